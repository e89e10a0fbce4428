"""A bond redeemed at maturity through the application, on anvil: refused before maturity;
then the holders frozen at maturity, `announceCashOut`, `cashOut` batches by the executor
(in this process), the outcomes ingested from the vault's logs, and reconciliation of both
legs: principal paid and units redeemed. Holders the stablecoin blocks fail alone, with their
reason; once unblocked, one claims (its units redeemed as it is paid) and one is retried.
Operators and auditors see the units redeemed that the chain redeemed, in the API and the
panel, and a rebuild of the distributions read model says the same."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest
from litestar.testing import TestClient

from api.app import Wiring, create_app
from api.keys import Role, create_key
from api.reads import ReadModels
from api.tokens import ChainTokenReader
from app.claims import unpaid_claims
from app.execution import commit_on_chain
from app.executor import BatchExecutor
from app.importing import import_asset, snapshot_from_chain
from app.ingest import ingest_vaults
from app.reconcile import reconcile
from chain.contracts import BOND, call, deploy_security_token, role, send
from devtools.devnet import block, fund_vault, holder_addresses, take_snapshot, unblock
from domain.distribution import Status
from domain.errors import InvalidTerms
from domain.planning import GasModel
from domain.terms import DistributionKind, DistributionTerms, Rule, RuleKind
from projections.distributions import Distributions
from projections.rebuild import rebuild
from projections.registry import open_all
from projections.runner import Runner
from projections.store import views_datastore
from tests.contracts.helpers import travel
from tests.execution.conftest import Stack
from tests.web.conftest import sign_in
from web.app import panel, template_config

NOMINAL = 100_000_000  # 100 USD (6 decimals) per whole bond unit (2 decimals)
SMALL = GasModel(budget=1_500_000)  # ~9 cash-out holders a batch: several batches


def send_raw(w3, sender: str, to: str, data: str) -> None:
    tx = w3.eth.send_transaction({"from": sender, "to": to, "data": data, "gas": 500_000})
    assert w3.eth.wait_for_transaction_receipt(tx)["status"] == 1


def pay_all(stack: Stack, executor: BatchExecutor, did) -> Status:
    for batch in stack.ledger.batches(did):
        executor.execute(batch.id)
    return stack.wait_until_done(did, timeout=60)


def shown(stack: Stack, database_url: str, schema: str, did) -> dict[str, dict[str, str]]:
    """What the API's getDistribution, the panel's distribution page and the panel's
    distributions list say of the units, once every read model has caught up (an auditor's
    key for all)."""
    views = views_datastore(database_url, schema)
    try:
        for projection in open_all(views):
            Runner(stack.ledger, projection).catch_up()
    finally:
        views.close()
    key = create_key(database_url, schema, Role.AUDITOR)[1]
    app = create_app(Wiring(ledger=stack.ledger, reads=ReadModels(database_url, schema),
                            token_reader=ChainTokenReader(stack.net.w3)),
                     panel=panel(), template_config=template_config())
    with TestClient(app, base_url="http://localhost", raise_server_exceptions=False) as client:
        api = client.get(f"/distributions/{did}", headers={"X-API-Key": key})
        assert api.status_code == 200, api.text
        sign_in(client, key)
        page = client.get(f"/panel/distributions/{did}")
        assert page.status_code == 200, page.text
        listed = client.get("/panel/distributions")
        assert listed.status_code == 200, listed.text
    units = re.search(r'data-units-redeemed="(\d*)" data-units-outstanding="(\d*)"', page.text)
    assert units, "the panel shows no units redeemed"
    row = re.search(rf'data-distribution="{did}"(?:(?!</tr>).)*?data-units-redeemed="(\d*)"'
                    r' data-units-outstanding="(\d*)"', listed.text, re.S)
    assert row, "the distributions list shows no units column"
    body = api.json()
    return {"api": {"redeemed": body["units_redeemed"], "outstanding": body["units_outstanding"],
                    "principal": body["amount_paid"]},
            "panel": {"redeemed": units[1], "outstanding": units[2],
                      "principal": body["amount_paid"]},
            "list": {"redeemed": row[1], "outstanding": row[2], "principal": body["amount_paid"]}}


class ThroughTheMapper(Distributions):
    def use_fast_path(self, mapper) -> None:
        """Never: `process_event` gets every event."""


def views_row(database_url: str, schema: str, did) -> tuple:
    with psycopg.connect(database_url) as conn:
        return conn.execute(f'SELECT * FROM "{schema}_views".distributions'
                            " WHERE distribution_id = %s", (did,)).fetchone()


def test_a_bond_is_redeemed_at_maturity_and_reconciled_on_both_legs(stack: Stack,
                                                                     database_url, schema):
    net, ledger = stack.net, stack.ledger
    w3, admin = net.w3, net.admin
    # A bond maturing in 30 days (on the wall clock the import checks), held by 20 holders.
    maturity = datetime.now(UTC).date() + timedelta(days=30)
    at = int(datetime.combine(maturity, datetime.min.time(), UTC).timestamp())
    bond = deploy_security_token(w3, admin=admin, name="Acme Bond", symbol="ABND", kind=BOND,
                                 maturity_date=at, nominal_value=NOMINAL)
    for name in ("ISSUER", "CORPORATE_ACTION"):
        send(bond.functions.grantRole(role(name), admin), admin)
    send(bond.functions.grantRole(role("CONTROLLER"), net.vault.address), admin)
    holders = holder_addresses(20, tag="bondholder")
    send(bond.functions.issueBatch(holders, [100 + 37 * i for i in range(20)]), admin,
         gas=30_000_000)
    supply = int(call(bond.functions.totalSupply()))
    asset_id = import_asset(ledger, w3, chain_id=31337, token_address=bond.address,
                            payment_token=net.usd.address, payment_decimals=6,
                            vault_address=net.vault.address, actor="importer",
                            operator=admin, approver=admin).asset_id
    assert ledger.get_asset(asset_id).bond_terms.maturity_date == maturity
    terms = DistributionTerms(kind=DistributionKind.CASH_OUT,
                              rule=Rule(RuleKind.PER_UNIT, NOMINAL),
                              record_date=datetime.combine(maturity, datetime.min.time(), UTC))
    # Before maturity: a record date before it is refused, and so is a snapshot while the
    # chain's clock has not reached it. Nothing is recorded, nothing sent.
    before = ledger.recorder.max_notification_id()
    with pytest.raises(InvalidTerms, match="maturity"):
        ledger.create_distribution(
            asset_id=asset_id, idempotency_key="early", actor="maker",
            terms=DistributionTerms(kind=DistributionKind.CASH_OUT,
                                    rule=Rule(RuleKind.PER_UNIT, NOMINAL),
                                    record_date=terms.record_date - timedelta(days=1)))
    assert ledger.recorder.max_notification_id() == before
    did = ledger.create_distribution(asset_id=asset_id, idempotency_key="redemption",
                                     terms=terms, actor="maker")
    ledger.approve_distribution(did, "checker")
    net.token = bond
    snapshot_id = take_snapshot(net)
    with pytest.raises(InvalidTerms, match="waits for maturity"):
        snapshot_from_chain(ledger, w3, did, snapshot_id=snapshot_id, gas_model=SMALL)
    assert ledger.get_distribution(did).status is Status.APPROVED
    # At maturity (the dev chain's clock moved on): the holder list is frozen.
    travel(w3, 31 * 86_400)
    snapshot_id = take_snapshot(net)
    totals = snapshot_from_chain(ledger, w3, did, snapshot_id=snapshot_id, gas_model=SMALL)
    assert totals.eligible == 20 and totals.net == supply * NOMINAL // 100
    assert ledger.get_distribution(did).batch_count > 1
    commit_on_chain(ledger, stack.services.gateway, stack.services.signer, did,
                    claim_deadline=datetime.now(UTC) + timedelta(days=400), actor="checker")
    fund_vault(net, totals.net)
    # Two holders are blocked by the stablecoin: each fails alone; the others are redeemed.
    blocked, claimer = holders[3], holders[11]
    block(net, blocked)
    block(net, claimer)
    executor = BatchExecutor(ledger, stack.services.gateway, stack.services.signer, SMALL)
    ledger.start_execution(did, "operator")
    assert pay_all(stack, executor, did) is Status.COMPLETED_WITH_FAILURES
    distribution = ledger.get_distribution(did)
    assert (distribution.paid, distribution.failed) == (18, 2)
    failures = {b.leaves[i].account: b.failure_reasons[i]
                for b in ledger.batches(did) for i in b.failed_leaves()}
    assert set(failures) == {blocked, claimer} and all(failures.values())
    check = reconcile(ledger, w3, did, check_balances=True)
    assert check.ok, check.differences
    units_kept = sum(int(call(bond.functions.balanceOf(h))) for h in (blocked, claimer))
    assert check.units_redeemed == supply - units_kept
    assert int(call(bond.functions.totalSupply())) == units_kept
    paid = str(check.ledger_paid)
    assert shown(stack, database_url, schema, did) == {
        view: {"redeemed": str(check.units_redeemed), "outstanding": str(units_kept),
               "principal": paid} for view in ("api", "panel", "list")}
    # Unblocked, one claims: its claim commits its units, which the vault redeems as it pays.
    unblock(net, blocked)
    unblock(net, claimer)
    _, claims = unpaid_claims(ledger, did, datetime.now(UTC))
    claim = next(c for c in claims if c.account == claimer)
    assert claim.amount == int(call(bond.functions.balanceOf(claimer)))
    send_raw(w3, admin, net.vault.address, claim.calldata())
    ingest_vaults(ledger, stack.services.gateway, confirmations=0)
    # Its `Paid` and `Claimed` logs are one claim: applied whole, none left unapplied.
    assert ledger.get_cursor(w3.eth.chain_id, net.vault.address).unreadable == 0
    # The other is retried: redeemed and paid; the bond's supply is gone.
    ledger.retry_distribution(did, actor="operator", reason="holder unblocked")
    assert pay_all(stack, executor, did) is Status.COMPLETED
    check = reconcile(ledger, w3, did, check_balances=True)
    assert check.ok and check.units_redeemed == supply, check.differences
    # The token's own ControllerRedemption logs, ingested, say the same
    assert ledger.get_asset(distribution.asset_id).units_redeemed_for(did) == supply
    assert int(call(bond.functions.totalSupply())) == 0
    outcomes = {b.leaves[i].account: o for b in ledger.batches(did) for i, o in b.outcomes.items()}
    # The claimer is recorded as having claimed, the retried holder as paid by push.
    assert outcomes[claimer] == "CLAIMED" and outcomes[blocked] == "PAID"
    assert check.chain_paid == totals.net
    assert maturity > date.today()  # the wall clock never reached it: the chain's did
    assert shown(stack, database_url, schema, did) == {
        view: {"redeemed": str(supply), "outstanding": "0", "principal": str(totals.net)}
        for view in ("api", "panel", "list")}
    # Rebuilt from the log, the distributions read model says the same, row for row: with the
    # fast path's raw holder rows, and with every event through the mapper (a store with a
    # cipher or a compressor).
    before = views_row(database_url, schema, did)
    views = views_datastore(database_url, schema)
    try:
        for cls in (Distributions, ThroughTheMapper):
            rebuild(ledger, views, cls)
            assert views_row(database_url, schema, did) == before, cls.__name__
    finally:
        views.close()
