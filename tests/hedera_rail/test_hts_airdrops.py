"""Pending airdrops (HIP-904), refused prechecks and TransactionId uniqueness on the HTS rail:
the real ledger (PostgreSQL) against the STAND-IN Hedera network and its Mirror Node history
(stand-ins: the real network cannot be reached from here). Every check of money is made holder
by holder against the stand-in's own balances and pending airdrops, not only the ledger."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hiero_sdk_python import ResponseCode
from hiero_sdk_python.hapi.services import timestamp_pb2
from hiero_sdk_python.tokens.token_airdrop_claim import TokenClaimAirdropTransaction
from hiero_sdk_python.tokens.token_airdrop_pending_id import PendingAirdropId
from hiero_sdk_python.transaction.transaction_id import TransactionId

from app.automation import Automation
from app.held_airdrops import HeldAirdrops
from app.hts_executor import HtsBatchExecutor, long_zero_account
from chain.hedera.hts_history import MirrorTransactionHistory
from chain.hedera.hts_rail import HtsRail
from chain.hedera.hts_signer import LocalHederaSigner
from chain.hedera.mirror_client import MirrorNodeClient
from devtools.hedera_standin.history import StandinHistory
from devtools.hedera_standin.mirror import HederaMirrorStandin
from domain.batch import LeafOutcome
from domain.distribution import Status
from domain.failures import RetryPolicy
from domain.hts_links import TokenLink
from domain.hts_transaction_ids import TransactionIdTaken
from domain.planning import GasModel
from tests.hedera_rail.conftest import World
from tests.hedera_rail.ledger_setup import executing_distribution
from tests.hedera_rail.test_hts_rail import _rail
from tests.projections.stories import select
from tests.projections.test_retries import catch_up_all


def _num(leaf) -> int:
    return long_zero_account(leaf.account)[2]


def _read_model(ledger, datastore, database_url, schema, did) -> tuple[object, ...]:
    """The operators' read models, caught up: the distribution's paid, failed and pending
    (count, amount), and its holders' statuses in leaf order."""
    catch_up_all(ledger, datastore)
    (row,) = select(database_url, schema,
                    "SELECT * FROM {v}.distributions WHERE distribution_id = %s", did)
    holders = select(database_url, schema, "SELECT status FROM {v}.distribution_holders"
                     " WHERE distribution_id = %s ORDER BY leaf_index", did)
    return (row["paid_count"], row["failed_count"], row["pending_claim_count"],
            int(row["pending_claim_amount"]), "/".join(h["status"] for h in holders))


def _statuses(ledger, did) -> list[str]:
    batch = ledger.get_batch(did, 0)
    return [batch.outcomes[i].value for i in sorted(batch.outcomes)]


def _tomorrow(world: World) -> datetime:
    return datetime.fromtimestamp(world.net.ledger.clock.now(), UTC) + timedelta(days=1)


def _claim(world: World, holder, key) -> None:
    """The holder claims the payer's pending airdrop with their own key (and so associates)."""
    client = world.fresh_client()
    client.set_operator(holder, key)
    start = int(world.net.ledger.clock.now()) - 1  # the stand-in's clock, maybe advanced
    claim = TokenClaimAirdropTransaction().add_pending_airdrop_id(
        PendingAirdropId(world.treasury, holder, world.token)).set_transaction_id(
        TransactionId(holder, timestamp_pb2.Timestamp(seconds=start)))
    assert claim.execute(client).status == ResponseCode.SUCCESS


def _reconcile(world: World, ledger, did, supply: int | None = 10**12) -> dict[str, int]:
    """Holder by holder: a PAID leaf's holder holds exactly its net on the stand-in; a
    PENDING_CLAIM leaf's net is exactly the stand-in's pending airdrop to its holder; a
    CANCELLED or FAILED one received nothing. Σ of each, and the payer's balance, add up."""
    batch = ledger.get_batch(did, 0)
    pending = world.net.ledger.pending_airdrops
    sums = dict.fromkeys(("PAID", "PENDING_CLAIM", "CANCELLED", "FAILED"), 0)
    for i, leaf in batch.leaves.items():
        outcome = batch.outcomes[i]
        held = world.net.token_balance(_num(leaf), world.token.num) or 0
        airdropped = pending.get((world.treasury.num, _num(leaf), world.token.num), 0)
        assert (held, airdropped) == {
            LeafOutcome.PAID: (leaf.net, 0), LeafOutcome.PENDING_CLAIM: (0, leaf.net),
        }.get(outcome, (0, 0)), (i, outcome)
        sums[outcome.value] += leaf.net
    assert sum(sums.values()) == batch.total_net  # every unit of net accounted once
    if supply is not None:  # the payer paid this distribution only
        assert world.balance(world.treasury) == supply - sums["PAID"]
    assert sum(pending.values()) == sums["PENDING_CLAIM"]
    assert batch.amount_paid == ledger.get_distribution(did).amount_paid == sums["PAID"]
    assert batch.pending_claim_amount == sums["PENDING_CLAIM"]
    return sums


@pytest.fixture(params=["in-process", "http"])
def history(request, world):
    """The Mirror Node's history: read in process, or through the Mirror Node's REST API
    (MirrorTransactionHistory over HTTP against the Mirror Node stand-in)."""
    if request.param == "in-process":
        yield StandinHistory(world.net)
        return
    mirror = HederaMirrorStandin(world.net)
    client = MirrorNodeClient(mirror.start())
    yield MirrorTransactionHistory(client)
    client.close()
    mirror.stop()


def test_the_mirror_node_tells_each_holders_relationship_with_the_token(world, history):
    associated = world.holder()[0]
    newcomer = world.holder(associated=False)[0]
    frozen = world.holder()[0]
    world.net.set_frozen(frozen.num, world.token.num, True)
    revoked = world.holder(kyc_granted=False)[0]
    accounts = [str(a) for a in (associated, newcomer, frozen, revoked)] + ["0.0.999999"]
    assert history.token_links(accounts, str(world.token)) == {
        str(associated): TokenLink.ASSOCIATED, str(newcomer): TokenLink.NOT_ASSOCIATED,
        str(frozen): TokenLink.FROZEN, str(revoked): TokenLink.KYC_REVOKED,
        "0.0.999999": TokenLink.UNKNOWN}  # no such account: the network's status will say
    # the holder associates: the next answer says so
    world.net.associate(newcomer.num, world.token.num)
    assert history.token_links([str(newcomer)], str(world.token)) == {
        str(newcomer): TokenLink.ASSOCIATED}


def test_an_unassociated_holder_is_pending_until_they_claim_then_paid(ledger, world, history):
    newcomer, newcomer_key = world.holder(associated=False)
    did = executing_distribution(ledger, [world.holder()[0].num, newcomer.num],
                                 claim_deadline=_tomorrow(world))
    batch = ledger.get_batch(did, 0)
    executor = HtsBatchExecutor(ledger, _rail(world, history))
    # the run pays the associated holder; the newcomer's airdrop is pending, not paid: the
    # tokens are still the payer's, and the distribution is not complete
    executor.execute(batch.id)
    batch = ledger.get_batch(did, 0)
    assert sorted(o.value for o in batch.outcomes.values()) == ["PAID", "PENDING_CLAIM"]
    assert ledger.get_distribution(did).status is Status.EXECUTING
    sums = _reconcile(world, ledger, did)
    assert sums["PENDING_CLAIM"] > 0
    # before the holder claims (and the deadline), following the airdrops changes nothing
    assert "1 airdrops pending" in executor.follow_airdrops(batch.id).detail
    assert ledger.get_batch(did, 0).outcomes == batch.outcomes
    # the holder claims on the network; once the Mirror Node has ingested past the airdrop's
    # window (before, an airdrop missing from its list proves nothing) the claim is read
    # back: paid, and the distribution completes, every holder paid exactly once
    _claim(world, newcomer, newcomer_key)
    assert "1 airdrops pending" in executor.follow_airdrops(batch.id).detail
    world.net.ledger.clock.advance(200)
    assert executor.follow_airdrops(batch.id).action == "nothing-to-do"
    assert set(ledger.get_batch(did, 0).outcomes.values()) == {LeafOutcome.PAID}
    assert ledger.get_distribution(did).status is Status.COMPLETED
    assert _reconcile(world, ledger, did)["PAID"] == ledger.get_batch(did, 0).total_net


def test_after_the_claim_deadline_unclaimed_airdrops_are_cancelled_once(
        ledger, world, views, database_url, schema):
    first, first_key = world.holder(associated=False)
    second, _ = world.holder(associated=False)
    did = executing_distribution(ledger, [first.num, world.holder()[0].num, second.num],
                                 claim_deadline=_tomorrow(world))
    batch_id = ledger.get_batch(did, 0).id
    rail = _rail(world)
    executor = HtsBatchExecutor(ledger, rail)
    executor.execute(batch_id)
    pending = _reconcile(world, ledger, did)["PENDING_CLAIM"]
    # the read model shows the two pending airdrops apart from paid and failed
    view = _read_model(ledger, views, database_url, schema, did)
    assert view == (1, 0, 2, pending, "/".join(_statuses(ledger, did)))
    assert sorted(view[-1].split("/")) == ["PAID", "PENDING_CLAIM", "PENDING_CLAIM"]
    # before the deadline nothing is cancelled
    assert "until the claim deadline" in executor.follow_airdrops(batch_id).detail
    # the deadline passes; one holder claims just after it, before the job runs
    world.net.ledger.clock.advance(2 * 86_400)
    # the scheduler does not expire the distribution under its open airdrops: the worker's
    # cancellation is the reclaim, and expiring first would leave them claimable forever
    automation = Automation(ledger, None, None, None, GasModel())  # type: ignore[arg-type]
    past_deadline = ledger.get_distribution(did).claim_deadline + timedelta(days=1)
    assert automation.advance(did, past_deadline) != "expired"
    assert ledger.get_distribution(did).status is Status.EXECUTING
    _claim(world, first, first_key)
    # the job records the claim first, then cancels the other airdrop: its TransactionId
    # recorded before it is sent, like a payment's
    assert executor.follow_airdrops(batch_id).action == "nothing-to-do"
    batch = ledger.get_batch(did, 0)
    cancelled = [i for i, o in batch.outcomes.items() if o is LeafOutcome.CANCELLED]
    assert [_num(batch.leaves[i]) for i in cancelled] == [second.num]
    assert batch.submitted_leaves[batch.tx_hashes[-1]] == cancelled  # the cancellation's
    assert batch.failure_reasons[cancelled[0]] == "AIRDROP_CANCELLED_AFTER_CLAIM_DEADLINE"
    assert world.net.ledger.pending_airdrops == {}
    sums = _reconcile(world, ledger, did)
    assert sums["CANCELLED"] == batch.leaves[cancelled[0]].net
    distribution = ledger.get_distribution(did)
    assert distribution.status is Status.COMPLETED_WITH_FAILURES
    assert (distribution.paid, distribution.failed) == (2, 1)
    # the read model: the cancelled holder failed (with the reason), the claimer is paid
    view = _read_model(ledger, views, database_url, schema, did)
    assert view == (2, 1, 0, 0, "/".join(_statuses(ledger, did)).replace("CANCELLED", "FAILED"))
    assert sorted(view[-1].split("/")) == ["FAILED", "PAID", "PAID"]
    # running the job again sends nothing more
    sent = len(world.net.ledger.executed)
    assert executor.follow_airdrops(batch_id).action == "nothing-to-do"
    assert len(world.net.ledger.executed) == sent


def test_a_payer_out_of_hbar_stops_the_distribution_until_it_is_funded(ledger, world):
    holders = [world.holder()[0].num for _ in range(3)]
    did = executing_distribution(ledger, holders)
    batch_id = ledger.get_batch(did, 0).id
    executor = HtsBatchExecutor(ledger, _rail(world))
    # the payer has no hbar left for fees: the node refuses at precheck, nothing executes
    world.net.set_tinybars(world.treasury.num, 1_000)
    outcome = executor.execute(batch_id)
    assert outcome.action == "waiting-for-funds"
    assert outcome.detail.startswith("INSUFFICIENT_PAYER_BALANCE")
    # the whole distribution stops with the reason on the batch; nobody was paid
    assert ledger.get_distribution(did).status is Status.WAITING_FOR_FUNDS
    batch = ledger.get_batch(did, 0)
    assert batch.outcomes == {} and len(batch.hts_open) == 1
    assert world.net.ledger.executed == {}
    assert executor.execute(batch_id).action == "nothing-to-do"
    # not funded yet: no resumption
    assert executor.resume_after_funding(did) is False
    # the payer is funded: the distribution resumes and the same TransactionId (its window
    # still open) pays every holder, exactly once
    world.net.set_tinybars(world.treasury.num, 10 * 100_000_000)
    assert executor.resume_after_funding(did) is True
    assert executor.execute(batch_id).action == "nothing-to-do"
    batch = ledger.get_batch(did, 0)
    assert len(batch.tx_hashes) == 1 and len(world.net.ledger.executed) == 1
    assert ledger.get_distribution(did).status is Status.COMPLETED
    assert _reconcile(world, ledger, did)["PAID"] == batch.total_net


def test_two_workers_sharing_a_payer_never_share_a_transaction_id(ledger, world):
    # two distributions' batches, two "processes" whose clocks read the same instant
    frozen = world.net.ledger.clock.now()
    first = executing_distribution(ledger, [world.holder()[0].num], key="one")
    second = executing_distribution(ledger, [world.holder()[0].num], key="two")
    rails = [_rail(world) for _ in range(2)]
    for rail in rails:
        rail._clock = lambda: frozen
    [one, two] = [ledger.get_batch(did, 0) for did in (first, second)]
    assert rails[0].next_valid_start_ns() == rails[1].next_valid_start_ns()
    # the second worker's first choice is already used: the ledger refuses it (nothing is
    # recorded), and the worker takes the next valid start
    HtsBatchExecutor(ledger, rails[0]).execute(one.id)
    [used] = ledger.get_batch(first, 0).tx_hashes
    with pytest.raises(TransactionIdTaken):
        ledger.record_hts_submission(two.id, transaction_id=used, valid_start_ns=1,
                                     valid_seconds=120, kind="transfer",
                                     leaf_indices=[two.first_leaf])
    assert ledger.get_batch(second, 0).tx_hashes == []
    HtsBatchExecutor(ledger, rails[1]).execute(two.id)
    [other] = ledger.get_batch(second, 0).tx_hashes
    assert other != used
    for did in (first, second):
        assert _reconcile(world, ledger, did, supply=None)["PAID"] == \
            ledger.get_batch(did, 0).total_net


def test_a_node_busy_past_the_sdks_retries_is_an_attempt_failure_then_the_same_id_pays(
        ledger, world):
    did = executing_distribution(ledger, [world.holder()[0].num for _ in range(2)])
    batch_id = ledger.get_batch(did, 0).id
    client = world.fresh_client().set_max_attempts(2)  # the SDK gives up after two BUSYs
    rail = HtsRail(client=client, lookup_client=world.fresh_client(), payer=world.treasury,
                   token=world.token, signer=LocalHederaSigner(world.treasury_key),
                   history=StandinHistory(world.net), clock=world.net.ledger.clock.now)
    executor = HtsBatchExecutor(ledger, rail, unit_random=lambda: 0.5)
    # the node answers BUSY at precheck until the SDK gives up: nothing executed; the
    # refusal is recorded with when to try again, and the TransactionId stays open
    world.net.busy(2)
    outcome = executor.execute(batch_id)
    assert (outcome.action, outcome.detail) == ("retry-later", "BUSY")
    batch = ledger.get_batch(did, 0)
    assert batch.transient_failures == 1 and batch.retry_at == outcome.retry_at
    assert list(batch.hts_open) == [outcome.transaction_id] and world.net.ledger.executed == {}
    # the retry sends the same TransactionId: every holder paid once, under that one id
    assert executor.execute(batch_id).action == "nothing-to-do"
    assert ledger.get_batch(did, 0).tx_hashes == [outcome.transaction_id]
    assert _reconcile(world, ledger, did)["PAID"] == batch.total_net


def test_a_batch_given_up_on_stays_blocked_until_its_operator_retries(ledger, world):
    did = executing_distribution(ledger, [world.holder()[0].num])
    batch_id = ledger.get_batch(did, 0).id
    client = world.fresh_client().set_max_attempts(1)
    rail = HtsRail(client=client, lookup_client=world.fresh_client(), payer=world.treasury,
                   token=world.token, signer=LocalHederaSigner(world.treasury_key),
                   history=StandinHistory(world.net), clock=world.net.ledger.clock.now)
    executor = HtsBatchExecutor(ledger, rail, retry_policy=RetryPolicy(max_attempts=1))
    # one BUSY and the policy gives up: BLOCKED, with the code as its reason
    world.net.busy(1)
    assert executor.execute(batch_id).action == "blocked"
    [refused] = ledger.get_batch(did, 0).hts_open
    # blocked: its open TransactionId is not sent again, only its fate looked for; once it is
    # proven dead the batch still waits for its operator, and nothing was ever executed
    assert executor.execute(batch_id).action == "in-flight"
    world.net.ledger.clock.advance(200)
    assert executor.execute(batch_id).action == "blocked"
    batch = ledger.get_batch(did, 0)
    assert batch.hts_open == {} and batch.rejection.endswith("BUSY")
    assert world.net.ledger.executed == {}
    # the operator retries: paid once, under a new TransactionId
    ledger.retry_distribution(did, actor="operator", reason="node back")
    assert executor.execute(batch_id).action == "nothing-to-do"
    assert ledger.get_batch(did, 0).tx_hashes[0] == refused
    assert _reconcile(world, ledger, did)["PAID"] == batch.total_net


class _StaleOutstanding:
    """A Mirror Node that has not yet ingested the latest claims: its list of outstanding
    airdrops is the one it served before them (once), then it catches up."""

    def __init__(self, history: StandinHistory) -> None:
        self.history, self.stale = history, None

    def lookup(self, transaction_id, credited_token=None):
        return self.history.lookup(transaction_id, credited_token)

    def token_links(self, accounts, token):
        return self.history.token_links(accounts, token)

    def outstanding_airdrops(self, sender, token):
        answer = self.history.outstanding_airdrops(sender, token)
        if self.stale is None:
            self.stale = answer
        stale, self.stale = self.stale, answer
        return stale


def test_a_claim_racing_the_cancellation_is_paid_and_nothing_is_cancelled_twice(ledger, world):
    first, first_key = world.holder(associated=False)
    second, _ = world.holder(associated=False)
    did = executing_distribution(ledger, [first.num, second.num],
                                 claim_deadline=_tomorrow(world))
    batch_id = ledger.get_batch(did, 0).id
    history = _StaleOutstanding(StandinHistory(world.net))
    executor = HtsBatchExecutor(ledger, _rail(world, history))
    executor.execute(batch_id)
    assert "2 airdrops pending" in executor.follow_airdrops(batch_id).detail
    # past the deadline a holder claims, but the Mirror Node still lists the airdrop: the
    # cancellation of both is sent and fails as a whole (one id is no longer pending)
    world.net.ledger.clock.advance(2 * 86_400)
    _claim(world, first, first_key)
    assert executor.follow_airdrops(batch_id).action == "nothing-to-do"
    # the failed cancellation changed nothing; the claim was then read, and only the other
    # airdrop was cancelled: the claimer paid, the other never, each exactly once
    batch = ledger.get_batch(did, 0)
    outcomes = {_num(batch.leaves[i]): o for i, o in batch.outcomes.items()}
    assert outcomes == {first.num: LeafOutcome.PAID, second.num: LeafOutcome.CANCELLED}
    statuses = [ResponseCode(e.record.receipt.status).name
                for e in world.net.ledger.executed.values()]
    assert statuses[-2:] == ["INVALID_PENDING_AIRDROP_ID", "SUCCESS"]
    sums = _reconcile(world, ledger, did)
    assert sums["PAID"] + sums["CANCELLED"] == batch.total_net
    assert world.net.ledger.pending_airdrops == {}


class _WorkerDied(Exception):
    pass


def _dies_before_sending(world: World) -> HtsRail:
    """A worker's rail that dies (as a SIGKILL would) after recording, before sending."""
    rail = _rail(world)

    def die_before_sending(prepared):
        raise _WorkerDied

    rail.submit = die_before_sending  # type: ignore[method-assign]
    return rail


def _two_for_one_newcomer(ledger, world, second_deadline_days: int):
    """One unassociated holder, and two distributions paying them: the second's claim
    deadline that many days after the first's."""
    newcomer, key = world.holder(associated=False)
    first = executing_distribution(ledger, [newcomer.num], key="first",
                                   claim_deadline=_tomorrow(world))
    second = executing_distribution(
        ledger, [newcomer.num], total=2_000_000, key="second",
        claim_deadline=_tomorrow(world) + timedelta(days=second_deadline_days))
    return newcomer, key, first, second


def _merged(ledger, world, second_deadline_days: int = 30):
    """Two distributions airdrop to the same unassociated holder: the network keeps one
    pending airdrop per (payer, holder, token), holding both amounts."""
    newcomer, newcomer_key, first, second = _two_for_one_newcomer(ledger, world,
                                                                  second_deadline_days)
    executor = HtsBatchExecutor(ledger, _rail(world))
    for did in (first, second):
        executor.execute(ledger.get_batch(did, 0).id)
    nets = [ledger.get_batch(did, 0).pending_claim_amount for did in (first, second)]
    assert world.net.ledger.pending_airdrops == {
        (world.treasury.num, newcomer.num, world.token.num): sum(nets)}
    return newcomer, newcomer_key, (first, second), executor, nets


def _cancelled_events(ledger, did):
    batch_id = ledger.get_batch(did, 0).id
    return [e for e in ledger.events.get(batch_id) if type(e).__name__ == "HtsAirdropCancelled"]


def _follow(ledger, executor, did):
    return executor.follow_airdrops(ledger.get_batch(did, 0).id)


def test_a_merged_airdrop_is_cancelled_once_for_both_after_the_last_deadline(
        ledger, world, views, database_url, schema):
    _newcomer, _key, (first, second), executor, nets = _merged(ledger, world)
    supply = world.balance(world.treasury)  # pending airdrops never left the payer
    # The first's deadline passes: cancelling now would take back the second's payment,
    # still claimable, so nothing is sent, and the job says what it waits for.
    world.net.ledger.clock.advance(2 * 86_400)
    sent = len(world.net.ledger.executed)
    for did in (first, second):
        outcome = _follow(ledger, executor, did)
        assert outcome.action == "nothing-to-do"
    assert "merged with another distribution's airdrop" in _follow(ledger, executor,
                                                                    first).detail
    assert len(world.net.ledger.executed) == sent
    assert sum(world.net.ledger.pending_airdrops.values()) == sum(nets)
    # The second's deadline passes too: one cancellation ends both, sent by whichever
    # batch's job runs first (here the later distribution's: the first's is never followed).
    world.net.ledger.clock.advance(31 * 86_400)
    _follow(ledger, executor, second)
    cancels = [e for e in world.net.ledger.executed.values()
               if ResponseCode(e.record.receipt.status).name == "SUCCESS"][-1:]
    assert len(world.net.ledger.executed) == sent + 1 and cancels
    assert world.net.ledger.pending_airdrops == {}
    for did, net in zip((first, second), nets, strict=True):
        batch = ledger.get_batch(did, 0)
        assert set(batch.outcomes.values()) == {LeafOutcome.CANCELLED}, did
        assert batch.pending_claim_amount == 0 and batch.hts_open == {}
        assert batch.failure_reasons[0] == "AIRDROP_CANCELLED_AFTER_CLAIM_DEADLINE"
        distribution = ledger.get_distribution(did)
        assert distribution.status is Status.COMPLETED_WITH_FAILURES
        assert (distribution.paid, distribution.failed, distribution.amount_paid) == (0, 1, 0)
        assert batch.leaves[0].net == net
    # the cancellation is one transaction, recorded by the batch that sent it, named by both
    (first_tid,), (second_tid,) = ({e.transaction_id for e in _cancelled_events(ledger, did)}
                                   for did in (first, second))
    assert first_tid == second_tid
    # and after the cancellation neither did they
    assert world.balance(world.treasury) == supply
    # the operators' read models: each distribution's holder failed, nothing pending
    for did in (first, second):
        assert _read_model(ledger, views, database_url, schema, did) == (0, 1, 0, 0, "FAILED")
    # running the jobs again sends nothing more
    for did in (first, second):
        assert _follow(ledger, executor, did).action == "nothing-to-do"
    assert len(world.net.ledger.executed) == sent + 1


def test_a_merged_airdrop_claimed_pays_both_distributions(ledger, world):
    newcomer, newcomer_key, (first, second), executor, nets = _merged(ledger, world)
    # The first's deadline passes: the merged airdrop is left pending, and says so.
    world.net.ledger.clock.advance(2 * 86_400)
    assert "merged with another distribution's" in _follow(ledger, executor, first).detail
    assert sum(world.net.ledger.pending_airdrops.values()) == sum(nets)
    # The holder claims: both distributions' leaves are paid, exactly what the holder got,
    # read by one batch's job (the claim ended both airdrops: both are recorded at once).
    _claim(world, newcomer, newcomer_key)
    world.net.ledger.clock.advance(200)
    _follow(ledger, executor, first)
    for did in (first, second):
        assert set(ledger.get_batch(did, 0).outcomes.values()) == {LeafOutcome.PAID}
        assert ledger.get_distribution(did).status is Status.COMPLETED
    assert world.net.token_balance(newcomer.num, world.token.num) == sum(nets)


def test_another_batchs_cancellation_in_flight_is_never_read_as_a_claim(ledger, world):
    _newcomer, _key, (first, second), executor, _nets = _merged(ledger, world,
                                                                second_deadline_days=0)
    world.net.ledger.clock.advance(3 * 86_400)
    owner, other = sorted((first, second), key=lambda d: str(ledger.get_batch(d, 0).id))
    # The owner's worker records its cancellation and dies before the receipt: the network
    # executed it, the pending airdrop is gone, and the ledger does not know yet.
    rail = _rail(world)
    submit = rail.submit

    def submit_then_die(prepared):
        submit(prepared)
        raise _WorkerDied  # as a SIGKILL after submitting (tests/hedera_rail/test_hts_crash)

    rail.submit = submit_then_die  # type: ignore[method-assign]
    with pytest.raises(_WorkerDied):
        _follow(ledger, HtsBatchExecutor(ledger, rail), owner)
    assert world.net.ledger.pending_airdrops == {}
    assert ledger.get_batch(owner, 0).hts_open  # recorded, its fate not yet known
    # The other distribution's job reads the airdrop gone, past its window: not a claim.
    world.net.ledger.clock.advance(200)
    assert _follow(ledger, executor, other).action == "nothing-to-do"
    assert ledger.get_batch(other, 0).outcomes[0] is LeafOutcome.PENDING_CLAIM
    # The owner's job finds the cancellation's fate and ends both.
    _follow(ledger, executor, owner)
    for did in (first, second):
        assert ledger.get_batch(did, 0).outcomes[0] is LeafOutcome.CANCELLED


def test_no_airdrop_joins_a_pending_airdrop_whose_cancellation_is_in_flight(ledger, world):
    # The first distribution's deadline has passed; its worker records the cancellation of
    # the holder's pending airdrop and dies before sending it.
    newcomer, _key = world.holder(associated=False)
    first = executing_distribution(ledger, [newcomer.num], key="first",
                                   claim_deadline=_tomorrow(world))
    executor = HtsBatchExecutor(ledger, _rail(world))
    executor.execute(ledger.get_batch(first, 0).id)
    world.net.ledger.clock.advance(2 * 86_400)
    rail = _dies_before_sending(world)
    with pytest.raises(_WorkerDied):
        _follow(ledger, HtsBatchExecutor(ledger, rail), first)
    # A second distribution pays the same holder meanwhile: its airdrop would be merged into
    # the pending airdrop the cancellation is about to end. It is held back, nothing sent.
    second = executing_distribution(ledger, [newcomer.num], total=2_000_000, key="second",
                                    claim_deadline=_tomorrow(world) + timedelta(days=30))
    sent = len(world.net.ledger.executed)
    for _ in range(6):  # however long the cancellation takes: a wait, never a fault
        held_back = executor.execute(ledger.get_batch(second, 0).id)
        assert held_back.action == "retry-later" and "in flight" in held_back.detail
    assert len(world.net.ledger.executed) == sent
    waiting = ledger.get_batch(second, 0)
    assert waiting.status.value != "BLOCKED" and waiting.transient_failures == 0
    # The first's job sends its recorded cancellation: the first's leaf alone is cancelled.
    _follow(ledger, executor, first)
    assert ledger.get_batch(first, 0).outcomes[0] is LeafOutcome.CANCELLED
    assert world.net.ledger.pending_airdrops == {}
    # The second's airdrop goes now, and stays pending: never read as a claim.
    executor.execute(ledger.get_batch(second, 0).id)
    world.net.ledger.clock.advance(400)
    _follow(ledger, executor, second)
    batch = ledger.get_batch(second, 0)
    assert batch.outcomes[0] is LeafOutcome.PENDING_CLAIM
    assert world.net.ledger.pending_airdrops == {
        (world.treasury.num, newcomer.num, world.token.num): batch.leaves[0].net}


def test_a_leaf_pending_before_the_ledger_kept_pending_airdrops_is_adopted_then_cancelled(
        ledger, world, monkeypatch):
    # The first distribution's airdrop is recorded by the code from before the ledger kept
    # each holder's pending airdrop (nothing mirrored), the second's by this code.
    _newcomer, _key, first, second = _two_for_one_newcomer(ledger, world, 0)
    executor = HtsBatchExecutor(ledger, _rail(world))
    with monkeypatch.context() as old_code:
        old_code.setattr(HeldAirdrops, "submitted", lambda *_a: None)
        old_code.setattr(HeldAirdrops, "airdrop_settled", lambda *_a: None)
        executor.execute(ledger.get_batch(first, 0).id)
    executor.execute(ledger.get_batch(second, 0).id)
    world.net.ledger.clock.advance(2 * 86_400)
    # The second's job alone cannot know the merged amount: it waits, and says why.
    sent = len(world.net.ledger.executed)
    waiting = _follow(ledger, executor, second)
    assert "waiting for them to agree" in waiting.detail
    assert len(world.net.ledger.executed) == sent
    # The first's job adopts its leaf, and then the one cancellation ends both.
    _follow(ledger, executor, first)
    assert len(world.net.ledger.executed) == sent + 1
    for did in (first, second):
        assert ledger.get_batch(did, 0).outcomes[0] is LeafOutcome.CANCELLED
    assert world.net.ledger.pending_airdrops == {}


def test_an_airdrop_recorded_by_the_code_before_is_not_sent_again_into_a_cancellation(
        ledger, world, monkeypatch):
    # The first distribution's leaf is pending, past its deadline. The second's airdrop to
    # the same holder is recorded by the code from before (not mirrored) and its worker
    # dies before sending it.
    newcomer, _key, first, second = _two_for_one_newcomer(ledger, world, 30)
    executor = HtsBatchExecutor(ledger, _rail(world))
    executor.execute(ledger.get_batch(first, 0).id)
    world.net.ledger.clock.advance(2 * 86_400)
    dying = _dies_before_sending(world)
    second_batch = ledger.get_batch(second, 0).id
    with monkeypatch.context() as old_code:
        old_code.setattr(HeldAirdrops, "submitted", lambda *_a: None)
        with pytest.raises(_WorkerDied):
            HtsBatchExecutor(ledger, dying).execute(second_batch)
    # The first's job records the cancellation (nothing in flight is known to it) and its
    # worker dies too.
    with pytest.raises(_WorkerDied):
        _follow(ledger, HtsBatchExecutor(ledger, dying), first)
    # The second's job would send its recorded airdrop again (same TransactionId, its window
    # still open): into the pending airdrop the cancellation is about to end. It is not.
    sent = len(world.net.ledger.executed)
    outcome = executor.execute(ledger.get_batch(second, 0).id)
    assert outcome.action == "in-flight" and "not sent again" in outcome.detail
    assert len(world.net.ledger.executed) == sent
    # The cancellation goes; the second's old TransactionId dies unsent; its holder is then
    # paid by a new airdrop, pending until claimed, and never read as a claim.
    _follow(ledger, executor, first)
    assert ledger.get_batch(first, 0).outcomes[0] is LeafOutcome.CANCELLED
    world.net.ledger.clock.advance(400)
    executor.execute(ledger.get_batch(second, 0).id)
    world.net.ledger.clock.advance(400)
    _follow(ledger, executor, second)
    batch = ledger.get_batch(second, 0)
    assert batch.outcomes[0] is LeafOutcome.PENDING_CLAIM
    assert world.net.ledger.pending_airdrops == {
        (world.treasury.num, newcomer.num, world.token.num): batch.leaves[0].net}
