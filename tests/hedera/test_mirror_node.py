"""The Mirror Node adapters against the STAND-IN (the Hedera network is unreachable here;
devtools.mirror_standin serves the Mirror Node's REST format from a real anvil chain).

Ingestion through `MirrorNodeLogSource`: 100-row pages followed through `links.next`; 429
(with Retry-After) and 5xx waited out; an answer that cannot be trusted (malformed JSON, a
page out of order, a next page overlapping the previous one, a node that stays down) is a
transient chain error with nothing recorded and the cursor where it was, and the next pass
ingests the range once. Accounts resolve in bulk to one canonical address; balances of an HTS
token are refused when they do not add up to its supply.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from app.hts_snapshot import snapshot_from_mirror_node
from app.importing import import_asset, snapshot_from_chain
from app.ingest import TRANSFER_TOPIC, VaultIngestor
from app.ledger import PayoutLedger
from chain.gateway import TransientChainError
from chain.hedera.balances import token_balances_at
from chain.hedera.errors import (
    AccountNotFound,
    BalancesDisagree,
    InvalidHederaId,
    MirrorNodeInconsistent,
    MirrorNodeUnavailable,
    NotAFungibleToken,
)
from chain.hedera.ids import AccountResolver
from chain.hedera.mirror_client import MirrorNodeClient, TokenBucket
from chain.hedera.mirror_logs import MirrorNodeLogSource
from devtools.devchain import Anvil
from devtools.devnet import DevNet, deploy_devnet, issue_shares, take_snapshot
from devtools.mirror_standin import MirrorStandin
from domain.distribution import Status
from domain.planning import GasModel
from domain.terms import DistributionKind, DistributionTerms, Rule, RuleKind, Withholding
from mass_payout.processes import run_ingestor
from runtime.bootstrap import log_source_for
from runtime.settings import ConfigurationError, Settings

pytestmark = pytest.mark.anvil
HOLDERS = 130  # issued in one transaction: 130 Transfer logs, two pages of 100
# The vault's deployment: the proxy's first implementation (Upgraded) and its admin,
# OPERATOR and APPROVER grants (RoleGranted), recorded as observed vault changes.
DEPLOY_LOGS = ["Upgraded", "RoleGranted", "RoleGranted", "RoleGranted"]
DEPLOY_GRANTS = len(DEPLOY_LOGS)


@pytest.fixture(scope="module")
def net() -> Iterator[DevNet]:
    with Anvil(accounts=3) as w3:
        yield deploy_devnet(w3, holders=HOLDERS)


@pytest.fixture
def standin(net: DevNet) -> Iterator[MirrorStandin]:
    with MirrorStandin(net.w3) as server:
        yield server


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def client(standin: MirrorStandin, sleeps: list[float]) -> Iterator[MirrorNodeClient]:
    """Retries sleep into a list: the test sees each wait without spending it."""
    mirror = MirrorNodeClient(standin.url, max_retries=3, sleep=sleeps.append,
                              rate_per_second=0)
    yield mirror
    mirror.close()


def ingestor(ledger: PayoutLedger, net: DevNet, client: MirrorNodeClient) -> VaultIngestor:
    asset_id = import_asset(ledger, net.w3, chain_id=31337, token_address=net.token.address,
                            payment_token=net.usd.address, payment_decimals=6,
                            vault_address=net.vault.address, actor="importer",
                            operator=net.admin, approver=net.admin).asset_id
    return VaultIngestor(ledger, MirrorNodeLogSource(client), net.w3, 31337, asset_id,
                         net.vault.address, net.usd.address, security_token=net.token.address)


def test_pages_throttling_and_outages_are_waited_out(ledger, net, standin, client, sleeps):
    # The node throttles the first request (Retry-After: 2 s) and fails the token's next
    # page once with a 503.
    standin.inject("429", "/results/logs", retry_after=2)
    standin.inject("503", "index=gt")
    facts = ingestor(ledger, net, client).catch_up()
    # Every issuance was ingested, across the two pages, once (and the vault's own grants).
    assert facts == HOLDERS + DEPLOY_GRANTS
    assert any("index=gt" in r for r in standin.requests)
    # The 429's wait honoured Retry-After; the 503's was a jittered backoff below the cap.
    assert sleeps[0] >= 2 and len(sleeps) == 2
    cursor = ledger.get_cursor(31337, net.vault.address)
    assert cursor is not None and cursor.last_block == net.w3.eth.block_number
    assert cursor.last_hash == net.w3.eth.get_block(cursor.last_block)["hash"].to_0x_hex()


@pytest.mark.parametrize(("fault", "match", "times", "error"), [
    ("malformed", "/results/logs", 1, MirrorNodeInconsistent),
    ("out_of_order", "results/logs?", 1, MirrorNodeInconsistent),  # the token's 100 rows
    ("overlap", "index=gt", 1, MirrorNodeInconsistent),
    ("500", "/results/logs", 10, MirrorNodeUnavailable),
])
def test_an_answer_that_cannot_be_trusted_records_nothing(ledger, net, standin, client,
                                                          fault, match, times, error):
    vault = ingestor(ledger, net, client)
    recorded = ledger.recorder.max_notification_id()
    fault_ = standin.inject(fault, match, times=times)
    if fault == "out_of_order":
        fault_.match = f"/contracts/{net.token.address}/results/logs?"
    # The pass fails with a transient chain error (the ingestor's loop backs off and retries).
    with pytest.raises(error) as raised:
        vault.catch_up()
    assert isinstance(raised.value, TransientChainError)
    # Nothing was recorded; the cursor was never created.
    assert ledger.recorder.max_notification_id() == recorded
    assert ledger.get_cursor(31337, net.vault.address) is None
    # Once the node answers properly, the range is ingested, once.
    standin.faults.clear()
    assert vault.catch_up() == HOLDERS + DEPLOY_GRANTS
    assert [c.log for c in ledger.vault_ops(vault.asset_id).observed] == DEPLOY_LOGS
    assert vault.catch_up() == 0


def test_accounts_resolve_in_bulk_to_one_canonical_address(net, standin, client):
    resolver = AccountResolver(client)
    ids = [standin.account_id(h) for h in net.holders]
    before = len(standin.requests)
    # 130 account ids: two requests (100 ids each at most), not 130.
    by_id = resolver.resolve(ids)
    assert len(standin.requests) - before == 2
    assert [by_id[i].evm_address for i in ids] == net.holders
    # The alias address, the id and the cached answer agree; asked again, nothing is fetched.
    requests = len(standin.requests)
    again = resolver.resolve([net.holders[0].lower(), ids[0]])
    assert again[net.holders[0].lower()] == again[ids[0]] == by_id[ids[0]]
    assert len(standin.requests) == requests
    # A long-zero address is the account it encodes.
    long_zero = "0x" + (1001).to_bytes(20, "big").hex()
    with pytest.raises(AccountNotFound, match=r"0\.0\.1001"):
        resolver.resolve([long_zero])
    # An account the network does not have, and a string that is no account.
    with pytest.raises(AccountNotFound):
        resolver.resolve(["0x" + "ab" * 20])
    with pytest.raises(InvalidHederaId):
        resolver.resolve(["alice"])


def now(net: DevNet, standin: MirrorStandin) -> str:
    return client_block(standin)["timestamp"]["to"]


def client_block(standin: MirrorStandin) -> dict[str, Any]:
    status, body, _ = standin.answer("/api/v1/blocks?order=desc&limit=1")
    assert status == 200
    block: dict[str, Any] = body["blocks"][0]
    return block


def test_token_balances_add_up_or_are_refused(net, standin, client):
    resolver = AccountResolver(client)
    token_id = standin.add_token(net.token.address)
    at = now(net, standin)
    # Two pages of holders, each holder under its canonical address, adding up to the supply.
    snapshot = token_balances_at(client, resolver, token_id, at)
    assert sorted(snapshot.balances) == sorted(net.holders)
    assert all(snapshot.balances[h] == net.token.functions.balanceOf(h).call()
               for h in net.holders[::13])
    assert snapshot.total_supply == net.token.functions.totalSupply().call()
    assert any("account.id=gt" in r for r in standin.requests)
    # A node whose supply disagrees with its balances: the snapshot is refused.
    standin.inject("supply", token_id, times=0)
    with pytest.raises(BalancesDisagree, match="snapshot refused"):
        token_balances_at(client, resolver, token_id, at)
    # A token id of the wrong kind, one that does not exist, one that is no id at all.
    nft = standin.add_token(net.usd.address, kind="NON_FUNGIBLE_UNIQUE")
    with pytest.raises(NotAFungibleToken, match="NON_FUNGIBLE_UNIQUE"):
        token_balances_at(client, resolver, nft, at)
    with pytest.raises(NotAFungibleToken, match="not a token"):
        token_balances_at(client, resolver, "0.0.424242", at)
    with pytest.raises(InvalidHederaId):
        token_balances_at(client, resolver, "ACME", at)


def test_a_resource_added_to_the_standin_is_served_in_the_node_format(standin, client):
    # The HTS rail's lookups (transactions by id) plug into the stand-in as routes.
    def transaction(tx_id: str, *, query: dict[str, list[str]], fault: object) -> Any:
        if tx_id != "0.0.5-1700000000-000000123":
            return 404, {"_status": {"messages": [{"message": "Not found"}]}}, {}
        return 200, {"transactions": [{"transaction_id": tx_id, "result": "SUCCESS",
                                       "nonce": 0, "scheduled": False}]}, {}

    standin.add_route(r"/api/v1/transactions/([^/]+)", transaction)
    rows = client.transaction("0.0.5-1700000000-000000123")
    assert rows is not None and rows[0]["result"] == "SUCCESS"
    assert client.transaction("0.0.5-1700000000-000000124") is None


def dividend(ledger: PayoutLedger, asset_id: Any, key: str) -> Any:
    terms = DistributionTerms(kind=DistributionKind.DIVIDEND,
                              rule=Rule(RuleKind.PRO_RATA, 1_000_000 * 10**6),
                              record_date=datetime.now(UTC), withholding=Withholding(1_000))
    did = ledger.create_distribution(asset_id=asset_id, idempotency_key=key, terms=terms,
                                     actor="maker")
    ledger.approve_distribution(did, "checker")
    return did


def test_a_distribution_freezes_the_same_holders_from_the_mirror_node(ledger, net, standin,
                                                                     client):
    # Two dividends on one asset: one snapshotted through the token's own snapshot, the other
    # from the Mirror Node's balances at the same moment (the token served as an HTS token).
    asset_id = ingestor(ledger, net, client).asset_id
    from_chain, from_mirror = dividend(ledger, asset_id, "chain"), dividend(ledger, asset_id,
                                                                           "mirror")
    token_id = standin.add_token(net.token.address)
    totals = snapshot_from_chain(ledger, net.w3, from_chain, snapshot_id=take_snapshot(net),
                                 gas_model=GasModel())
    at = now(net, standin)
    # A node whose balances do not add up to the supply: refused, nothing recorded.
    standin.inject("supply", token_id, times=0)
    recorded = ledger.recorder.max_notification_id()
    with pytest.raises(BalancesDisagree):
        snapshot_from_mirror_node(ledger, client, from_mirror, timestamp=at, token=token_id,
                                  gas_model=GasModel())
    assert ledger.recorder.max_notification_id() == recorded
    assert ledger.get_distribution(from_mirror).status is Status.APPROVED
    # From a node that adds up: the same holders, entitlements and Merkle root.
    standin.faults.clear()
    assert snapshot_from_mirror_node(ledger, client, from_mirror, timestamp=at, token=token_id,
                                     gas_model=GasModel()) == totals
    assert ledger.get_distribution(from_mirror).merkle_root == \
        ledger.get_distribution(from_chain).merkle_root


def test_the_rate_limit_spaces_requests_beyond_the_burst():
    clock, waits = [0.0], []
    bucket = TokenBucket(10, 2, clock=lambda: clock[0], sleep=waits.append)
    bucket.take()
    bucket.take()  # the burst
    bucket.take()  # one more must wait a tenth of a second
    assert waits == [pytest.approx(0.1)]
    clock[0] += 1.0  # a second later the bucket is full again
    bucket.take()
    assert len(waits) == 1


def test_the_ingestor_process_reads_the_mirror_node_when_configured(ledger, net, standin,
                                                                    client, database_url,
                                                                    schema, redis_url):
    # An asset whose vault and token are to be ingested, and an ingestor configured the way
    # an operator configures one on Hedera: a Hedera network profile, MIRROR_NODE_URL beside
    # RPC_URL. The dev chain answers as Hedera's local network (chain 298) meanwhile.
    ingestor(ledger, net, client)
    env = {"DATABASE_URL": database_url, "REDIS_URL": redis_url, "MASS_PAYOUT_SCHEMA": schema,
           "RPC_URL": str(net.w3.provider.endpoint_uri),  # type: ignore[attr-defined]
           "CHAIN_NETWORK": "hedera-local", "MIRROR_NODE_URL": standin.url}
    before = len(standin.requests)
    sigterm = signal.getsignal(signal.SIGTERM)  # the process loop installs its own
    net.w3.provider.make_request("anvil_setChainId", [298])  # type: ignore[arg-type]
    try:
        run_ingestor(Settings.from_env(env), confirmations=0, interval=0, once=True)
    finally:
        net.w3.provider.make_request("anvil_setChainId", [31337])  # type: ignore[arg-type]
        signal.signal(signal.SIGTERM, sigterm)
    # It ingested every issuance, and did so from the Mirror Node.
    cursor = ledger.get_cursor(298, net.vault.address)
    assert cursor is not None and cursor.last_block == net.w3.eth.block_number
    assert any("/results/logs" in r for r in standin.requests[before:])


def test_only_mirror_node_url_on_a_hedera_network_moves_the_ingestor():
    base = {"RPC_URL": "http://127.0.0.1:8545"}
    # JSON-RPC, as before: on any network, and on Hedera's relay without MIRROR_NODE_URL.
    assert log_source_for(Settings.from_env(base)) is None
    assert log_source_for(Settings.from_env({**base, "CHAIN_NETWORK": "hedera-testnet"})) \
        is None
    testnet = Settings.from_env({**base, "CHAIN_NETWORK": "hedera-testnet",
                                 "MIRROR_NODE_URL": "https://testnet.mirrornode.hedera.com"})
    assert isinstance(log_source_for(testnet), MirrorNodeLogSource)
    # A Mirror Node off Hedera, or a URL that is not one, stops the process naming it.
    with pytest.raises(ConfigurationError, match=r"MIRROR_NODE_URL: .*Hedera CHAIN_NETWORK"):
        Settings.from_env({**base, "MIRROR_NODE_URL": "http://mirror.internal:5551"})
    with pytest.raises(ConfigurationError, match="MIRROR_NODE_URL"):
        Settings.from_env({**base, "CHAIN_NETWORK": "hedera-mainnet",
                           "MIRROR_NODE_URL": "mirror.internal"})


def test_a_topic_query_longer_than_seven_days_is_asked_in_windows(net, standin, client):
    # Eight days pass on the chain, then one more share is issued (last in this module: the
    # chain's clock stays moved).
    net.w3.provider.make_request("evm_increaseTime", [8 * 24 * 3600])  # type: ignore[arg-type]
    issue_shares(net, [(net.treasury, 5)])
    source = MirrorNodeLogSource(client)
    before = len(standin.requests)
    logs = source.logs(net.token.address, 0, source.head(), [[TRANSFER_TOPIC]])
    # The node takes a topic filter over at most seven days: two windows were asked, and
    # together they hold every issuance, in order.
    windows = {r.split("timestamp=gte")[1].split("&")[0] for r in standin.requests[before:]
               if "topic0" in r and "index=" not in r}
    assert len(windows) == 2
    assert len(logs) == HOLDERS + 1
    order = [(g["blockNumber"], g["logIndex"]) for g in logs]
    assert order == sorted(order) and len(set(order)) == len(order)
