"""Reclaim and sweep on a real ledger and a real vault (in-process py-evm): requested by one
person, approved by another, sent once by the treasurer's key, ingested back from the vault's
logs, and reconciled: Σ paid + reclaimed + swept == funded. On anvil of its own: the gateway
speaks raw JSON-RPC, and the test moves the chain's clock past the claim deadline."""

from __future__ import annotations

import json
import secrets
import shutil
from datetime import UTC, datetime, timedelta

import pytest
from redis import Redis
from typer.testing import CliRunner

from app.audit_verify import audit_distribution
from app.execution import commit_on_chain
from app.executor import BatchExecutor
from app.importing import import_asset, snapshot_from_chain
from app.ingest import ingest_vaults
from app.treasury import QUEUE_NAME, TreasuryExecutor, calldata, open_operations, resume
from app.vault_ops import LAYOUTS, VaultAdmin, VaultOpRefused
from chain.contracts import at, call, role, send
from chain.gateway import EvmGateway
from chain.signer import LocalSigner
from devtools.devchain import Anvil
from devtools.devnet import block, deploy_devnet, fund_vault, take_snapshot, unblock
from domain.distribution import Status
from domain.errors import InvalidInput, MakerCheckerViolation
from domain.planning import GasModel
from domain.terms import DistributionKind, DistributionTerms, Rule, RuleKind, Withholding
from domain.treasury import SweepDestination, TreasuryState
from mass_payout.cli import app as cli


def funded_key(net, *roles: str, private_key: str | None = None) -> LocalSigner:
    key = LocalSigner.from_key(private_key or "0x" + secrets.token_hex(32))
    net.w3.eth.send_transaction({"from": net.admin, "to": key.address, "value": 10**20})
    for name in roles:
        send(net.vault.functions.grantRole(role(name), key.address), net.admin)
    return key


def chain_now(w3) -> int:
    return int(w3.eth.get_block("latest")["timestamp"])


TREASURER_KEY = "0x" + "7e" * 32


@pytest.fixture
def paid(ledger, database_url):
    """A dividend to 6 holders, the issuer funding its gross; one holder is blocklisted, so
    its push fails. Keys: one that pays (operator + approver), one treasurer."""
    with Anvil(accounts=3) as w3:
        yield from _paid(ledger, database_url, w3)


def _paid(ledger, database_url, w3):
    net = deploy_devnet(w3, holders=6)
    payer = funded_key(net, "OPERATOR", "APPROVER")
    treasurer = funded_key(net, "TREASURER", private_key=TREASURER_KEY)
    gateway = EvmGateway(w3, expected_chain_id=None, database_url=database_url)
    snapshot_id = take_snapshot(net)
    asset = import_asset(ledger, w3, chain_id=gateway.chain_id, token_address=net.token.address,
                         payment_token=net.usd.address, payment_decimals=6,
                         vault_address=net.vault.address, actor="importer").asset_id
    terms = DistributionTerms(kind=DistributionKind.DIVIDEND,
                              rule=Rule(RuleKind.PRO_RATA, 1_000_003),
                              record_date=datetime.now(UTC), withholding=Withholding(1_000))
    did = ledger.create_distribution(asset_id=asset, idempotency_key="treasury", terms=terms,
                                     actor="maker")
    ledger.approve_distribution(did, "checker")
    totals = snapshot_from_chain(ledger, w3, did, snapshot_id=snapshot_id, gas_model=GasModel())
    deadline = datetime.fromtimestamp(chain_now(w3) + 3_600, UTC)
    commit_on_chain(ledger, gateway, payer, did, claim_deadline=deadline, actor="approver")
    fund_vault(net, totals.gross)
    block(net, net.holders[1])
    ledger.start_execution(did, "operator")
    pay = BatchExecutor(ledger, gateway, payer, GasModel())
    for batch in ledger.batches(did):
        if batch.leaf_count:
            assert pay.execute(batch.id).action == "submitted"
    ingest_vaults(ledger, gateway, confirmations=0)
    yield net, gateway, treasurer, did, deadline
    gateway.close()


def test_sweep_and_reclaim_each_need_two_people_go_out_once_and_reconcile(
        ledger, paid, database_url, redis_url, schema):
    net, gateway, treasurer, did, deadline = paid
    d = ledger.get_distribution(did)
    assert d.failed == 1 and d.totals is not None
    beyond_net = d.totals.withheld + d.totals.dust + d.totals.skipped_amount
    assert beyond_net > 0 and d.sweepable == beyond_net
    treasury_before = int(call(net.usd.functions.balanceOf(net.treasury)))

    # A reclaim before the claim deadline is refused, and nothing is recorded
    version = d.version
    with pytest.raises(InvalidInput, match="claim window"):
        ledger.request_reclaim(did, actor="maker", reason="early", now=deadline)
    assert ledger.get_distribution(did).version == version
    # Sweeping more than the distribution left beyond its net is refused too
    with pytest.raises(InvalidInput, match="left to sweep"):
        ledger.request_sweep(did, actor="maker", amount=beyond_net + 1, reason="x",
                             now=datetime.now(UTC))

    # The withheld tax goes to the tax authority configured on the asset: not more than
    # was withheld, and not before it is configured
    tax_office = funded_key(net).address
    with pytest.raises(InvalidInput, match="no TAX_AUTHORITY account"):
        ledger.request_sweep(did, actor="maker", amount=1, reason="tax", now=datetime.now(UTC),
                             destination=SweepDestination.TAX_AUTHORITY)
    ledger.set_sweep_accounts(d.asset_id, tax_authority=tax_office, dust=None, actor="admin",
                              reason="the tax office's account")
    with pytest.raises(InvalidInput, match="tax withheld left"):
        ledger.request_sweep(did, actor="maker", amount=d.totals.withheld + 1, reason="tax",
                             now=datetime.now(UTC), destination=SweepDestination.TAX_AUTHORITY)
    tax, _ = ledger.request_sweep(did, actor="maker", amount=d.totals.withheld,
                                  reason="withheld tax", now=datetime.now(UTC),
                                  destination=SweepDestination.TAX_AUTHORITY)
    ledger.approve_treasury_op(did, tax, "checker")
    executor = TreasuryExecutor(ledger, gateway, treasurer)
    # The vault sends only to accounts its admin allowed: refused, nothing recorded
    refused = executor.execute(did, tax)
    assert refused.action == "refused" and "NotASweepAccount" in refused.detail, refused
    assert ledger.get_distribution(did).treasury_op(tax).tx_hashes == []
    # The admin allows it on-chain; the treasurer sends it with `sweepTo`, ingested back
    send(net.vault.functions.setSweepAccount(tax_office, True), net.admin)
    assert executor.execute(did, tax).action == "submitted"
    ingest_vaults(ledger, gateway, confirmations=0)
    assert ledger.get_distribution(did).treasury_op(tax).state is TreasuryState.DONE
    assert int(call(net.usd.functions.balanceOf(tax_office))) == d.totals.withheld
    rest = beyond_net - d.totals.withheld

    # The maker asks to sweep the dust and skipped to the treasury; the maker cannot approve
    sweep, _ = ledger.request_sweep(did, actor="maker", amount=rest,
                                    reason="dust and skipped", now=datetime.now(UTC))
    with pytest.raises(MakerCheckerViolation):
        ledger.approve_treasury_op(did, sweep, "maker")
    # Not approved yet: the treasurer's job does nothing
    assert executor.execute(did, sweep).action == "nothing-to-do"
    # A key without TREASURER_ROLE is refused by the vault before anything is recorded
    outsider = funded_key(net)
    ledger.approve_treasury_op(did, sweep, "checker")
    refused = TreasuryExecutor(ledger, gateway, outsider).execute(did, sweep)
    assert refused.action == "refused" and "AccessControl" in refused.detail
    assert ledger.get_distribution(did).treasury_op(sweep).tx_hashes == []
    # The treasurer process runs the queued job with its key (the CLI, in this process)
    env = {"DATABASE_URL": database_url, "REDIS_URL": redis_url, "MASS_PAYOUT_SCHEMA": schema,
           "RPC_URL": str(net.w3.provider.endpoint_uri), "MASS_PAYOUT_PRIVATE_KEY": TREASURER_KEY}
    Redis.from_url(redis_url).delete(f"rq:queue:{QUEUE_NAME}")
    queued = CliRunner().invoke(cli, ["treasury", "approve", str(did), str(sweep), "--actor",
                                      "checker"], env=env)
    assert queued.exit_code == 0 and "queued for the treasurer" in queued.output, queued.output
    worked = CliRunner().invoke(cli, ["treasury", "work", "--burst"], env=env)
    assert worked.exit_code == 0, worked.output
    assert ledger.get_distribution(did).treasury_op(sweep).state is TreasuryState.SUBMITTED
    # Run again (a re-delivered job): the transaction is mined, nothing more is sent
    assert executor.execute(did, sweep).action == "mined"
    ingest_vaults(ledger, gateway, confirmations=0)
    assert executor.execute(did, sweep).action == "nothing-to-do"
    d = ledger.get_distribution(did)
    assert d.treasury_op(sweep).state is TreasuryState.DONE and d.swept == beyond_net
    assert d.sweepable == 0

    # After the deadline (the chain's clock too), the unpaid holder's money is reclaimed
    net.w3.provider.make_request("evm_setNextBlockTimestamp", [int(deadline.timestamp()) + 60])
    net.w3.provider.make_request("evm_mine", [])
    reclaim, _ = ledger.request_reclaim(did, actor="maker", reason="claim window closed",
                                        now=deadline + timedelta(seconds=60))
    ledger.approve_treasury_op(did, reclaim, "principal:bob/key:k2")
    # No job was queued for it: a treasurer starting up finds it in the ledger and sends it
    assert list(open_operations(ledger)) == [(did, reclaim)]
    assert [o.action for o in resume(ledger, executor)] == ["submitted"]
    ingest_vaults(ledger, gateway, confirmations=0)
    d = ledger.get_distribution(did)
    unpaid = d.totals.net - d.amount_paid
    assert unpaid > 0 and d.reclaimed == unpaid
    # A second reclaim is refused by the ledger
    with pytest.raises(Exception, match="already reclaimed"):
        ledger.request_reclaim(did, actor="maker", reason="again",
                               now=deadline + timedelta(seconds=90))

    # The treasury received exactly what was swept and reclaimed; the vault holds nothing
    # of this distribution; the audit's equation holds: paid + reclaimed + swept == funded
    received = int(call(net.usd.functions.balanceOf(net.treasury))) - treasury_before
    assert received == rest + unpaid
    assert int(call(net.usd.functions.balanceOf(net.vault.address))) == 0
    audit = audit_distribution(ledger, did, net.w3)
    assert audit.ok, audit.differences
    assert audit.ledger_paid + audit.reclaimed + audit.swept == audit.funded == d.totals.gross


def test_an_upgrade_keeps_a_distribution_in_flight_and_a_broken_layout_is_refused(
        ledger, paid, tmp_path):
    net, gateway, _treasurer, did, _deadline = paid
    assert ledger.get_distribution(did).failed == 1  # in flight: one holder still unpaid
    admin_key = funded_key(net, "UPGRADER", "PAUSER")
    admin = VaultAdmin(gateway, admin_key, net.vault.address)
    # A target whose VaultStorage lost a member is refused by name, before anything is sent
    broken = json.loads((LAYOUTS / "PayoutVaultV2.json").read_text())
    space = broken["namespaces"]["erc7201:masspayout.storage.PayoutVault"]
    space["members"] = [m for m in space["members"] if m["label"] != "outstanding"]
    shutil.copy(LAYOUTS / "PayoutVault.json", tmp_path / "PayoutVault.json")
    (tmp_path / "Broken.json").write_text(json.dumps(broken))
    nonce = gateway.pending_nonce(admin_key.address)
    with pytest.raises(VaultOpRefused, match=r"PayoutVault\.VaultStorage\.outstanding"):
        admin.upgrade(current="PayoutVault", target="Broken", layouts=tmp_path)
    assert gateway.pending_nonce(admin_key.address) == nonce
    # Paused, the vault refuses payments; the upgrader upgrades it to V2 meanwhile
    admin.pause()
    assert admin.paused()
    before = admin.implementation()
    done = admin.upgrade(current="PayoutVault", target="PayoutVaultV2")
    assert admin.implementation() == done.detail != before
    assert int(call(at(net.w3, "PayoutVaultV2", net.vault.address).functions.version())) == 2
    admin.unpause()
    # The blocked holder is unblocked and retried: V2 pays it from the same storage
    unblock(net, net.holders[1])
    ledger.retry_distribution(did, actor="operator", reason="unblocked")
    payer = funded_key(net, "OPERATOR")
    pay = BatchExecutor(ledger, gateway, payer, GasModel())
    for batch in ledger.batches(did):
        if batch.undecided_leaves():
            assert pay.execute(batch.id).action == "submitted"
    ingest_vaults(ledger, gateway, confirmations=0)
    d = ledger.get_distribution(did)
    assert d.status is Status.COMPLETED and d.amount_paid == d.totals.net
    assert audit_distribution(ledger, did, net.w3).ok


def test_a_treasurer_killed_between_recording_and_broadcasting_sweeps_once(ledger, paid):
    net, gateway, treasurer, did, _deadline = paid
    sweep, _ = ledger.request_sweep(did, actor="maker", amount=1, reason="dust",
                                    now=datetime.now(UTC))
    ledger.approve_treasury_op(did, sweep, "checker")
    # The treasurer signs and records its transaction, then dies before broadcasting it
    distribution = ledger.get_distribution(did)
    nonce, fees = gateway.pending_nonce(treasurer.address), gateway.fees()
    lost = treasurer.sign_transaction({
        "type": 2, "chainId": gateway.chain_id, "nonce": nonce, "to": net.vault.address,
        "data": calldata(distribution.treasury_op(sweep), did, net.usd.address),
        "gas": 200_000, "value": 0, "maxFeePerGas": fees.max_fee_per_gas,
        "maxPriorityFeePerGas": fees.max_priority_fee_per_gas})
    ledger.record_treasury_submission(did, sweep, tx_hash=lost.tx_hash, nonce=nonce,
                                      signed_at=datetime.now(UTC) - timedelta(minutes=5))
    before = int(call(net.usd.functions.balanceOf(net.treasury)))
    # Restarted, it finds the recorded transaction nowhere: signs again, with the same nonce
    redone = TreasuryExecutor(ledger, gateway, treasurer).execute(did, sweep)
    assert redone.action == "submitted" and redone.tx_hash != lost.tx_hash
    # The first signature surfacing later cannot execute: its nonce is spent
    with pytest.raises(Exception, match="nonce"):
        gateway.broadcast(lost.raw)
    ingest_vaults(ledger, gateway, confirmations=0)
    assert int(call(net.usd.functions.balanceOf(net.treasury))) - before == 1
    assert ledger.get_distribution(did).swept == 1


def test_the_supervisor_queues_an_approved_sweep_whose_job_was_lost(
        ledger, paid, redis_url, monkeypatch):
    from rq import Queue
    from rq.worker import SimpleWorker

    from app import treasury
    from app.supervisor import Supervisor

    _net, gateway, treasurer, did, _deadline = paid
    redis = Redis.from_url(redis_url)
    redis.flushdb()  # this story's own Redis: no job of another test under the same ids
    queue = Queue(QUEUE_NAME, connection=redis)
    # A sweep is approved, but its job never reaches Redis (the approving process died, or
    # Redis lost it): before, only the treasurer's next start would have found it
    sweep, _ = ledger.request_sweep(did, actor="maker", amount=1, reason="dust",
                                    now=datetime.now(UTC))
    ledger.approve_treasury_op(did, sweep, "checker")
    # The supervisor's next pass queues it under its deterministic id, and only once
    supervisor = Supervisor(ledger, gateway, Queue("payouts", connection=redis),
                            sources=[treasury.OwedTreasuryJobs(ledger, queue)])
    assert supervisor.run_once()["treasury_queued"] == 1
    assert queue.job_ids == [treasury.job_id(did, sweep)]
    assert "treasury_queued" not in supervisor.run_once()
    # The treasurer runs it with its key: sent once, ingested back, and nothing is owed now
    monkeypatch.setattr(treasury, "_executor", TreasuryExecutor(ledger, gateway, treasurer))
    SimpleWorker([queue], connection=redis).work(burst=True)
    ingest_vaults(ledger, gateway, confirmations=0)
    d = ledger.get_distribution(did)
    assert d.treasury_op(sweep).state is TreasuryState.DONE and d.swept == 1
    assert list(treasury.OwedTreasuryJobs(ledger, queue).owed()) == []
