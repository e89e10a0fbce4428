"""Automated execution end to end: real anvil, PostgreSQL, Redis, and real `mass-payout
scheduler` / `worker` processes. Each test ends reconciled holder by holder on-chain."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from app.automation import Automation
from app.execution import dispatch, start_execution
from app.importing import import_asset
from app.reconcile import reconcile
from app.scheduler import Scheduler
from devtools.devnet import fund_vault, holder_addresses, issue_shares
from domain.batch import BatchStatus, PayoutBatch
from domain.distribution import Distribution, Status
from domain.failures import RetryPolicy, is_short_of_funds
from domain.planning import GasModel
from domain.terms import (
    DistributionKind,
    DistributionTerms,
    Execution,
    ExecutionKind,
    Rule,
    RuleKind,
    Trigger,
)
from tests.execution.conftest import Stack

pytestmark = [pytest.mark.scheduling, pytest.mark.anvil]
TOTAL = 1_000 * 10**6
NOT_STARTED = {Status.APPROVED, Status.SNAPSHOTTED, Status.COMMITTED}


def automated(stack: Stack, execution: Execution, *, key: str, holders: int = 12) -> UUID:
    """Shares issued, the asset imported, a distribution created and approved: no more.
    The scheduler takes the snapshot, commits the root and starts it."""
    net = stack.net
    net.holders = holder_addresses(holders, tag=key)
    issue_shares(net, [(h, 1_000 + 37 * i) for i, h in enumerate(net.holders)])
    asset_id = import_asset(stack.ledger, net.w3, chain_id=31337,
                            token_address=net.token.address, payment_token=net.usd.address,
                            payment_decimals=6, vault_address=net.vault.address,
                            actor="importer", operator=net.admin, approver=net.admin).asset_id
    terms = DistributionTerms(kind=DistributionKind.DIVIDEND, rule=Rule(RuleKind.PRO_RATA, TOTAL),
                              record_date=datetime.now(UTC) - timedelta(seconds=1),
                              execution=execution)
    did = stack.ledger.create_distribution(asset_id=asset_id, idempotency_key=key, terms=terms,
                                           actor="maker")
    stack.ledger.approve_distribution(did, "checker")
    return did


def automation(stack: Stack) -> Automation:
    s = stack.services
    return Automation(s.ledger, s.gateway, s.signer, s.queue, GasModel())


def events(stack: Stack, aggregate_id: UUID) -> list[object]:
    return list(stack.ledger.repository.event_store.get(aggregate_id))


def assert_reconciled(stack: Stack, did: UUID) -> None:
    result = reconcile(stack.ledger, stack.net.w3, did, check_balances=True)
    assert result.differences == []
    assert result.chain_paid == result.ledger_paid > 0


def wait_until_started(stack: Stack, did: UUID, timeout: float = 60) -> Distribution:
    """Until something has started it: a wait for a state, bounded only to fail, not timed."""
    deadline = time.monotonic() + timeout
    while (d := stack.ledger.get_distribution(did)).status in NOT_STARTED:
        assert time.monotonic() < deadline, f"still {d.status} after {timeout}s"
        time.sleep(0.2)
    return d


def test_a_scheduled_distribution_is_prepared_ahead_and_started_at_its_time_never_before(
        stack: Stack):
    # How soon after its time it starts is a performance goal: `mass-payout bench scheduler`.
    at = datetime.now(UTC) + timedelta(hours=1)
    did = automated(stack, Execution(ExecutionKind.SCHEDULED, at=at), key="scheduled")
    fund_vault(stack.net, TOTAL)
    scheduler = Scheduler(stack.ledger, automation(stack))
    # Ahead of its time the scheduler prepares it: the snapshot, then the root on the vault.
    assert scheduler.tick(datetime.now(UTC))["snapshotted"] == 1
    assert scheduler.tick(datetime.now(UTC))["committed"] == 1
    # Prepared, it waits, up to the last instant before its time.
    for moment in (datetime.now(UTC), at - timedelta(microseconds=1)):
        assert scheduler.tick(moment)["started"] == 0
        assert stack.ledger.get_distribution(did).status is Status.COMMITTED
    # The first tick at its time starts it, as the scheduler.
    assert scheduler.tick(at)["started"] == 1
    started = next(e for e in events(stack, did)
                   if isinstance(e, Distribution.ExecutionStarted))
    assert started.actor == "scheduler"
    stack.spawn("worker")
    assert stack.wait_until_done(did) is Status.COMPLETED
    assert_reconciled(stack, did)


def test_the_scheduler_process_starts_a_scheduled_distribution_once_its_time_has_come(
        stack: Stack):
    at = datetime.now(UTC) + timedelta(seconds=3)
    did = automated(stack, Execution(ExecutionKind.SCHEDULED, at=at), key="scheduled-process")
    fund_vault(stack.net, TOTAL)
    stack.spawn("scheduler", "--interval", "0.5")
    stack.spawn("worker")
    # A loaded machine may start it late, never early: wait for the state, then read when.
    wait_until_started(stack, did)
    history = events(stack, did)
    kinds = [type(e) for e in history]
    started = history[kinds.index(Distribution.ExecutionStarted)]
    assert kinds.index(Distribution.Committed) < kinds.index(Distribution.ExecutionStarted)
    assert started.timestamp >= at
    assert started.actor == "scheduler"
    assert stack.wait_until_done(did) is Status.COMPLETED
    assert_reconciled(stack, did)


def test_short_of_funds_it_waits_then_completes_after_a_deposit(stack: Stack):
    did = automated(stack, Execution(ExecutionKind.AUTOMATIC, trigger=Trigger.ON_DEPOSIT),
                    key="on-deposit")
    scheduler = Scheduler(stack.ledger, automation(stack))
    for _ in range(4):  # snapshot, commit, then: the vault is empty
        scheduler.tick(datetime.now(UTC))
    d = stack.ledger.get_distribution(did)
    assert d.status is Status.WAITING_FOR_FUNDS
    awaited = next(e for e in events(stack, did) if isinstance(e, Distribution.FundsAwaited))
    assert (awaited.needed, awaited.available) == (d.totals.net, 0)
    fund_vault(stack.net, d.totals.net // 2)  # not enough yet
    assert scheduler.tick(datetime.now(UTC))["resumed"] == 0
    fund_vault(stack.net, d.totals.net)
    assert scheduler.tick(datetime.now(UTC))["resumed"] == 1
    stack.spawn("worker")
    assert stack.wait_until_done(did) is Status.COMPLETED
    assert_reconciled(stack, did)


def test_past_its_claim_deadline_an_unfunded_distribution_expires(stack: Stack):
    did = automated(stack, Execution(ExecutionKind.AUTOMATIC, trigger=Trigger.ON_DEPOSIT),
                    key="expires")
    scheduler = Scheduler(stack.ledger, automation(stack))
    for _ in range(3):
        scheduler.tick(datetime.now(UTC))
    d = stack.ledger.get_distribution(did)
    assert d.status is Status.WAITING_FOR_FUNDS and d.claim_deadline is not None
    assert scheduler.tick(d.claim_deadline + timedelta(seconds=1))["expired"] == 1
    expired = next(e for e in events(stack, did) if isinstance(e, Distribution.Expired))
    assert stack.ledger.get_distribution(did).status is Status.EXPIRED
    assert expired.unpaid == d.totals.net


def test_a_scheduler_killed_after_announcing_resumes_to_completion(stack: Stack):
    did = automated(stack, Execution(ExecutionKind.AUTOMATIC, trigger=Trigger.ON_DEPOSIT),
                    key="killed")
    fund_vault(stack.net, TOTAL)
    crashing = stack.spawn("scheduler", "--interval", "0.2", failpoint="after-announce")
    assert crashing.wait(timeout=60) == -9
    # The root is on the vault; the ledger never heard of it.
    assert stack.ledger.get_distribution(did).status is Status.SNAPSHOTTED
    stack.spawn("scheduler", "--interval", "0.2")
    stack.spawn("worker")
    assert stack.wait_until_done(did) is Status.COMPLETED
    committed = next(e for e in events(stack, did) if isinstance(e, Distribution.Committed))
    receipt = stack.net.w3.eth.get_transaction_receipt(committed.tx_hash)  # the real tx
    assert receipt["status"] == 1
    assert_reconciled(stack, did)


def test_transient_faults_back_off_give_up_after_3_and_an_operator_retry_completes(
        stack: Stack):
    from web3 import HTTPProvider

    from app.executor import BatchExecutor
    from devtools.devchain import free_port
    from runtime.bootstrap import build_services
    from runtime.settings import Settings

    did = automated(stack, Execution(ExecutionKind.MANUAL), key="flaky")
    fund_vault(stack.net, TOTAL)
    scheduler = Scheduler(stack.ledger, automation(stack))
    for _ in range(2):  # MANUAL: prepared by the scheduler, started by an operator
        scheduler.tick(datetime.now(UTC))
    assert stack.ledger.get_distribution(did).status is Status.COMMITTED
    assert start_execution(stack.ledger, stack.services.queue, did, "operator") == 1
    # (no worker runs yet: that first job stays queued while this test's worker fails)
    # A worker whose node goes away (its endpoint now refuses connections).
    services = build_services(Settings.from_env(stack.env))
    executor = BatchExecutor(services.ledger, services.gateway, services.signer, GasModel(),
                             retry_policy=RetryPolicy(), unit_random=lambda: 0.5)
    batch_id = stack.ledger.get_batch(did, 0).id
    node = services.gateway.w3.provider
    services.gateway.w3.provider = HTTPProvider(f"http://127.0.0.1:{free_port()}")
    t0 = datetime(2027, 1, 1, tzinfo=UTC)
    first = executor.execute(batch_id, now=t0)
    second = executor.execute(batch_id, now=first.retry_at)
    third = executor.execute(batch_id, now=second.retry_at)
    # Waits of 3/4 of 5 s and of 20 s (backoff ceilings 5 s and 20 s, jitter pinned at 0.5).
    assert first.action == second.action == "retry-later"
    assert first.retry_at - t0 == timedelta(seconds=3.75)
    assert second.retry_at - first.retry_at == timedelta(seconds=15)
    assert third.action == "gave-up"
    failures = [e for e in events(stack, batch_id) if isinstance(e, PayoutBatch.AttemptFailed)]
    assert [(e.attempt, e.retry_at) for e in failures] == [
        (1, first.retry_at), (2, second.retry_at), (3, None)]
    assert all("RPC failed" in e.reason for e in failures)
    batch = stack.ledger.get_batch(did, 0)
    assert batch.status is BatchStatus.BLOCKED and "gave up after 3" in str(batch.rejection)
    # The node is back; an operator retries; the batch is paid exactly once.
    services.gateway.w3.provider = node
    _, leaves, unblocked = stack.ledger.retry_distribution(did, actor="ops",
                                                           reason="node restarted")
    assert (leaves, unblocked) == (0, 1)
    # A new generation of job ids: the first attempt's id is still taken in Redis.
    assert dispatch(stack.ledger, stack.services.queue, did) == 1
    stack.spawn("worker")
    assert stack.wait_until_done(did) is Status.COMPLETED
    services.close()
    assert_reconciled(stack, did)


def test_a_holder_failure_waits_for_an_operator_retry_then_pays(stack: Stack):
    from devtools.devnet import block, unblock

    did = automated(stack, Execution(ExecutionKind.AUTOMATIC, trigger=Trigger.ON_DEPOSIT),
                    key="holder")
    fund_vault(stack.net, TOTAL)
    blocked = stack.net.holders[3]
    block(stack.net, blocked)
    scheduler = Scheduler(stack.ledger, automation(stack))
    for _ in range(3):
        scheduler.tick(datetime.now(UTC))
    stack.spawn("worker")
    assert stack.wait_until_done(did) is Status.COMPLETED_WITH_FAILURES
    d = stack.ledger.get_distribution(did)
    assert d.failed == 1
    # Nothing retries a holder-permanent failure by itself.
    scheduler.tick(datetime.now(UTC))
    assert stack.ledger.get_distribution(did).status is Status.COMPLETED_WITH_FAILURES
    unblock(stack.net, blocked)  # the issuer's compliance team clears the holder
    _, leaves, _ = stack.ledger.retry_distribution(did, actor="ops", reason="holder cleared")
    assert leaves == 1
    dispatch(stack.ledger, stack.services.queue, did)
    assert stack.wait_until_done(did) is Status.COMPLETED
    assert_reconciled(stack, did)


def test_a_corporate_action_is_paid_on_its_execution_date_from_the_tokens_terms(stack: Stack):
    from app.importing import import_asset as reimport
    from chain.contracts import call, send
    from domain import ids
    from domain.accounts import canonical
    from domain.schedule import MissedPolicy

    net = stack.net
    net.holders = holder_addresses(8, tag="action")
    issue_shares(net, [(h, 500 + 11 * i) for i, h in enumerate(net.holders)])
    asset_id = reimport(stack.ledger, net.w3, chain_id=31337, token_address=net.token.address,
                        payment_token=net.usd.address, payment_decimals=6,
                        vault_address=net.vault.address, actor="importer",
                        operator=net.admin, approver=net.admin).asset_id
    schedule_id = stack.ledger.define_schedule(
        asset_id=asset_id, key="dividends", missed_policy=MissedPolicy.RUN_ALL,
        misfire_grace=timedelta(minutes=5), actor="maker",
        terms=DistributionTerms(kind=DistributionKind.DIVIDEND, rule=Rule(RuleKind.PER_UNIT, 1),
                                record_date=datetime.now(UTC),
                                execution=Execution(ExecutionKind.AUTOMATIC,
                                                    trigger=Trigger.ON_CORPORATE_ACTION_DATE)))
    stack.ledger.approve_schedule(schedule_id, "checker")
    fund_vault(net, 10**12)
    scheduler = Scheduler(stack.ledger, automation(stack))
    # The issuer declares a dividend after the import: the scheduler picks it up from the token.
    now = max(int(datetime.now(UTC).timestamp()), int(net.w3.eth.get_block("latest")["timestamp"]))
    per_unit = 3 * 10**6  # 3 USD per whole share: ATS amount 3 with 0 decimals
    send(net.token.functions.setDividend((now + 1, now + 3, 3, 0)), net.admin)
    action_id = int(call(net.token.functions.getDividendsCount()))  # ATS ids start at 1
    net.w3.provider.make_request("evm_mine", [now + 2])  # the chain passes the record date
    # The scheduler's clock is injected: the last second before the execution date, then it.
    execution_date = datetime.fromtimestamp(now + 3, UTC)
    first = scheduler.tick(execution_date - timedelta(seconds=1))
    assert (first["actions"], first["spawned"]) == (1, 0)  # known; before its execution date
    for _ in range(4):  # spawn + snapshot, commit, start
        scheduler.tick(execution_date)
    did = ids.distribution_id(asset_id, f"corporate-action/{action_id}")
    d = stack.ledger.get_distribution(did)
    assert d.status is Status.EXECUTING
    action_snapshot = call(net.token.functions.getDividend(action_id))[0][1]
    assert action_snapshot and d.snapshot_ref.endswith(f"snapshot:{action_snapshot}")
    stack.spawn("worker")
    assert stack.wait_until_done(did) is Status.COMPLETED
    assert_reconciled(stack, did)
    paid = {b.leaves[i].account: b.leaves[i].net for b in stack.ledger.batches(did)
            for i in b.leaf_range}
    shares = dict(zip(net.holders, (500 + 11 * i for i in range(8)), strict=True))
    decimals = stack.ledger.get_asset(asset_id).decimals
    assert paid == {canonical(h): shares[h] * per_unit // 10**decimals for h in net.holders}


def test_leaves_that_failed_for_want_of_funds_are_paid_after_a_deposit(stack: Stack):
    """Two batches sent before either is mined both see the vault's full balance; the second
    one's transfers fail (the stablecoin's InsufficientBalance). A deposit brings them back
    by itself."""
    from app.executor import BatchExecutor
    from app.ingest import ingest_vaults
    from tests.execution.conftest import SMALL_BATCHES

    did = automated(stack, Execution(ExecutionKind.MANUAL), key="short", holders=100)
    s = stack.services
    scheduler = Scheduler(stack.ledger, Automation(s.ledger, s.gateway, s.signer, s.queue,
                                                   SMALL_BATCHES))
    for _ in range(2):
        scheduler.tick(datetime.now(UTC))
    d = stack.ledger.get_distribution(did)
    assert d.status is Status.COMMITTED and d.batch_count == 2
    first, second = (stack.ledger.get_batch(did, n) for n in range(2))
    fund_vault(stack.net, first.total_net)  # enough for one batch only
    stack.ledger.start_execution(did, "operator")
    executor = BatchExecutor(s.ledger, s.gateway, s.signer, SMALL_BATCHES)
    w3 = stack.net.w3
    w3.provider.make_request("evm_setAutomine", [False])  # type: ignore[arg-type]
    assert [executor.execute(b.id).action for b in (first, second)] == ["submitted"] * 2
    w3.provider.make_request("evm_setAutomine", [True])  # type: ignore[arg-type]
    w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    assert stack.wait_until_done(did) is Status.COMPLETED_WITH_FAILURES
    second = stack.ledger.get_batch(did, 1)
    assert len(second.failed_leaves()) == second.leaf_count
    assert all(is_short_of_funds(r) for r in second.failure_reasons.values())
    # No deposit yet: nothing to retry with.
    assert scheduler.tick(datetime.now(UTC))["retried"] == 0
    fund_vault(stack.net, second.total_net)
    ingest_vaults(s.ledger, s.gateway, confirmations=0)  # the ingestor records the deposit
    assert scheduler.tick(datetime.now(UTC))["retried"] == 1
    retried = next(e for e in events(stack, did) if isinstance(e, Distribution.RetryRequested))
    assert (retried.actor, retried.leaves) == ("scheduler", second.leaf_count)
    stack.spawn("worker")
    assert stack.wait_until_done(did) is Status.COMPLETED
    assert_reconciled(stack, did)
