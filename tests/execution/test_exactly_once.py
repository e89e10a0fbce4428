"""A distribution paid by real worker processes on a real chain, exactly once, even when
processes are killed at the worst moments. Every test ends with a holder-by-holder
reconciliation of the ledger against on-chain balances and the vault's bitmap."""

from __future__ import annotations

import pytest

from app.reconcile import reconcile
from domain.batch import LeafOutcome
from domain.distribution import Status
from tests.execution.conftest import Stack, prepare_distribution, start

pytestmark = pytest.mark.anvil


def assert_reconciled(stack: Stack, did) -> None:
    result = reconcile(stack.ledger, stack.net.w3, did, check_balances=True)
    assert result.differences == []
    assert result.chain_paid == result.ledger_paid > 0


def test_two_workers_pay_1000_holders_and_a_blocked_holder_fails_alone(stack: Stack):
    # 1,000 holders; two of them are blocklisted by the stablecoin (as USDC can).
    did = prepare_distribution(stack, holders=1_000, blocked=[17, 640])
    # Execution queues one job per batch; two worker processes share the queue.
    queued = start(stack, did)
    assert queued == stack.ledger.get_distribution(did).batch_count > 10
    stack.spawn("worker")
    stack.spawn("worker")
    # The ingestor brings the chain's outcomes back until every holder has one.
    assert stack.wait_until_done(did) is Status.COMPLETED_WITH_FAILURES
    d = stack.ledger.get_distribution(did)
    assert (d.paid, d.failed) == (998, 2)
    # The blocked holders failed with the token's own reason; nobody else did.
    failures = {b.leaves[i].account: reason for b in stack.ledger.batches(did)
                for i, reason in b.failure_reasons.items()}
    assert set(failures) == {stack.net.holders[17], stack.net.holders[640]}
    assert all("Blocked" in reason for reason in failures.values())
    assert_reconciled(stack, did)


def test_the_same_job_enqueued_twice_pays_once(stack: Stack):
    did = prepare_distribution(stack, holders=150)
    start(stack, did)
    # A second dispatch (a doubled dispatcher, a replay) queues nothing new.
    assert start_again(stack, did) == 0
    # Even running every batch twice, by hand, pays nobody twice.
    stack.spawn("worker")
    assert stack.wait_until_done(did) is Status.COMPLETED
    from app.executor import BatchExecutor
    from domain.planning import GasModel
    executor = BatchExecutor(stack.ledger, stack.services.gateway, stack.services.signer,
                             GasModel())
    for batch in stack.ledger.batches(did):
        assert executor.execute(batch.id).action == "nothing-to-do"
    assert_reconciled(stack, did)
    # The reconciliation bites: one unit that reached a holder outside the ledger is reported.
    from chain.contracts import send
    stray = stack.net.holders[3]
    send(stack.net.usd.functions.mint(stray, 1), stack.net.admin)
    differences = reconcile(stack.ledger, stack.net.w3, did, check_balances=True).differences
    assert len(differences) == 1
    assert stray in differences[0]


def start_again(stack: Stack, did) -> int:
    from rq import Queue

    from app.execution import dispatch
    from app.jobs import QUEUE_NAME
    return dispatch(stack.ledger, Queue(QUEUE_NAME, connection=stack.services.redis), did)


@pytest.mark.crash
@pytest.mark.parametrize("failpoint", ["after-record", "after-broadcast"])
def test_a_worker_killed_mid_submission_resumes_to_exactly_once(stack: Stack, failpoint):
    # (a) after-record: signed and recorded, never broadcast.
    # (b) after-broadcast: broadcast, killed before anything else.
    did = prepare_distribution(stack, holders=300)
    start(stack, did)
    crashing = stack.spawn("worker", failpoint=failpoint)
    assert crashing.wait(timeout=120) == -9  # killed by SIGKILL at the failpoint
    # An operator restarts the workers and the supervisor (no grace: the crash is known).
    stack.spawn("worker")
    stack.spawn("supervise", "--interval", "1", "--grace", "0")
    assert stack.wait_until_done(did) is Status.COMPLETED
    submissions = sum(b.attempts for b in stack.ledger.batches(did))
    batches = stack.ledger.get_distribution(did).batch_count
    if failpoint == "after-record":
        assert submissions == batches + 1  # the lost one was re-signed once
    assert all(o is LeafOutcome.PAID for b in stack.ledger.batches(did)
               for o in b.outcomes.values())
    assert_reconciled(stack, did)


@pytest.mark.crash
def test_an_ingestor_killed_mid_range_resumes_without_double_recording(stack: Stack):
    did = prepare_distribution(stack, holders=300)
    start(stack, did)
    stack.spawn("worker")
    # The ingestor process dies after decoding a range, before saving it.
    crashing = stack.spawn("ingest", "--once", failpoint="ingest-mid-range")
    assert crashing.wait(timeout=120) == -9
    # Restarted, it replays the range: facts recorded once (a double "paid" would be refused).
    assert stack.wait_until_done(did) is Status.COMPLETED
    assert_reconciled(stack, did)


def test_the_rpc_node_down_for_10_seconds_then_back_and_the_distribution_completes(stack: Stack):
    import time
    from urllib.parse import urlparse

    from tests.execution.proxy import FlakyProxy

    did = prepare_distribution(stack, holders=200)
    # The worker reaches the node through a proxy that the test can take down.
    proxy = FlakyProxy(urlparse(stack.env["RPC_URL"]).port or 0)
    proxy.up()
    stack.env["RPC_URL"] = proxy.url
    worker = stack.spawn("worker")
    from rq import Worker

    while not Worker.all(connection=stack.services.redis):  # up, connected and idle
        assert worker.poll() is None
        time.sleep(0.2)
    # The node goes down; execution starts anyway: every job meets a refused connection.
    proxy.down()
    from chain.contracts import call

    vault_balance = call(stack.net.usd.functions.balanceOf(stack.net.vault.address))
    start(stack, did)
    time.sleep(10)
    assert worker.poll() is None  # the worker survived the outage; its jobs wait to retry
    # Nothing reached the chain meanwhile (checked on the node itself, not through the proxy).
    assert call(stack.net.usd.functions.balanceOf(stack.net.vault.address)) == vault_balance
    # The node is back: the backoff's scheduled attempts pay everyone exactly once.
    proxy.up()
    assert stack.wait_until_done(did) is Status.COMPLETED
    assert_reconciled(stack, did)
    # Each failed attempt is on the record, with when it was to be tried again.
    from domain.batch import PayoutBatch

    failed = [e for b in stack.ledger.batches(did)
              for e in stack.ledger.repository.event_store.get(b.id)
              if isinstance(e, PayoutBatch.AttemptFailed)]
    assert failed and all(e.retry_at is not None and "RPC failed" in e.reason for e in failed)


def test_a_reorg_below_the_cursor_halts_ingestion_and_deletes_nothing(stack: Stack):
    from app.ingest import ingest_vaults
    from chain.contracts import send
    from domain.cursor import ReorgDetected

    did = prepare_distribution(stack, holders=20)
    w3 = stack.net.w3
    # The ingestor reads up to the head; the chain then replaces those blocks.
    fork_point = w3.provider.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]
    send(stack.net.usd.functions.mint(stack.net.vault.address, 5), stack.net.admin)
    ingest_vaults(stack.services.ledger, stack.services.gateway, confirmations=0)
    position = stack.ledger.recorder.max_notification_id()
    w3.provider.make_request("evm_revert", [fork_point])  # type: ignore[arg-type]
    for _ in range(3):  # a longer, different branch
        send(stack.net.usd.functions.mint(stack.net.treasury, 1), stack.net.admin)
    with pytest.raises(ReorgDetected, match="reorg"):
        ingest_vaults(stack.services.ledger, stack.services.gateway, confirmations=0)
    # Nothing of the range was recorded and nothing removed: the one new event is the halt
    # itself, which tells a person (dashboard, webhooks); trying again records no second one.
    halted = stack.ledger.recorder.select_notifications(start=position + 1, limit=10)
    assert [n.topic.rsplit(".", 1)[-1] for n in halted] == ["Halted"]
    with pytest.raises(ReorgDetected, match="reorg"):
        ingest_vaults(stack.services.ledger, stack.services.gateway, confirmations=0)
    assert stack.ledger.recorder.max_notification_id() == position + 1
    assert stack.ledger.get_distribution(did).status is Status.COMMITTED


def test_a_reverted_submission_blocks_its_batch_with_the_decoded_reason(stack: Stack):
    import time
    from datetime import timedelta

    from app.supervisor import Supervisor
    from chain.contracts import role, send
    from domain.batch import BatchStatus

    did = prepare_distribution(stack, holders=30)
    # A pauser freezes the vault: every payBatch now reverts on-chain (it is still mined).
    vault, admin = stack.net.vault, stack.net.admin
    send(vault.functions.grantRole(role("PAUSER"), admin), admin)
    send(vault.functions.pause(), admin)
    start(stack, did)
    stack.spawn("worker")
    supervisor = Supervisor(stack.ledger, stack.services.gateway, stack.services.queue,
                            grace=timedelta(0))
    batch_id = next(stack.ledger.batches(did)).id
    deadline = time.monotonic() + 60
    while stack.ledger.get_batch_by_id(batch_id).status is not BatchStatus.BLOCKED:
        assert time.monotonic() < deadline, "the reverted submission was never noticed"
        supervisor.run_once()
        time.sleep(0.5)
    # The operator sees why, decoded from the contract's own error; nobody was paid.
    batch = stack.ledger.get_batch_by_id(batch_id)
    assert batch.rejection is not None
    assert "EnforcedPause" in batch.rejection
    assert stack.ledger.get_distribution(did).paid == 0
    # A blocked batch is not resubmitted behind the operator's back.
    assert supervisor.run_once()["resubmitted"] == 0


def test_share_issuance_transfers_and_snapshots_come_back_from_the_chain(stack: Stack):
    from app.ingest import ingest_vaults
    from devtools.devnet import issue_shares, take_snapshot
    from domain.holdings import TransfersObserved

    did = prepare_distribution(stack, holders=25)
    asset_id = stack.ledger.get_distribution(did).asset_id
    ingest_vaults(stack.services.ledger, stack.services.gateway, confirmations=0)
    # Later, the issuer allocates more shares and takes another snapshot.
    issue_shares(stack.net, [(stack.net.holders[0], 777)])
    second = take_snapshot(stack.net)
    ingest_vaults(stack.services.ledger, stack.services.gateway, confirmations=0)
    # Every mint is in the ledger, in chain order, once.
    topic = f"{TransfersObserved.__module__}:{TransfersObserved.__qualname__}.Observed"
    records = [stack.ledger.repository.get(n.originator_id) for n in
               stack.ledger.recorder.select_notifications(start=1, limit=1_000, topics=[topic])]
    transfers = [t for r in records for t in r.transfers]
    assert len(transfers) == 26
    assert transfers[-1][1:3] == [stack.net.holders[0], 777]
    assert {t[0] for t in transfers} == {"0x" + "0" * 40}  # all of them mints
    assert sorted(stack.ledger.get_asset(asset_id).snapshots) == [second - 1, second]
