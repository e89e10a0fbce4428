"""The HTS rail wired into a distribution's life (issue #18), on the real ledger (PostgreSQL),
Redis and the STAND-IN Hedera network: the rail chosen at creation and refused where it cannot
pay, batches planned for native transfers at the snapshot, the commitment published to an HCS
topic exactly once before paying, and the supervisor re-queueing HTS batches without ever
judging them by an EVM transaction hash."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

import pytest
from hiero_sdk_python import AccountId
from redis import Redis
from rq import Queue

from app.automation import Automation
from app.hts_commitment import CommitmentNotPublished, message_of, publish_commitment
from app.supervisor import Supervisor
from chain.hedera.hts_history import MirrorTransactionHistory, TopicMessageAnswer
from chain.hedera.mirror_client import MirrorNodeClient
from devtools.hedera_standin.mirror import HederaMirrorStandin
from devtools.hedera_standin.state import Topic
from domain.distribution import Status
from domain.entitlements import Snapshot
from domain.errors import IdempotencyConflict, IllegalTransition
from domain.planning import GasModel
from domain.rails import Rail, RailNotAvailable
from domain.terms import (
    DistributionKind,
    DistributionTerms,
    Execution,
    ExecutionKind,
    Rule,
    RuleKind,
    Trigger,
)
from runtime.hedera import HtsRails, hts_automation, hts_payer
from runtime.settings import Settings
from tests.hedera_rail.ledger_setup import long_zero
from tests.hedera_rail.test_hts_rail import _rail
from tests.ledger.helpers import RECORD, holders, import_asset, terms

DEADLINE = RECORD + timedelta(days=30)


def _hedera_asset(ledger, payment_num: int = 1002, kind: str = "EQUITY"):
    return ledger.import_asset(chain_id=298, token_address=long_zero(1001), name="Hedera Equity",
                               symbol="HEQ", decimals=18, kind=kind,
                               payment_token=long_zero(payment_num), payment_decimals=6,
                               vault_address=None, actor="importer")


def _snapshotted(ledger, asset_id, key: str, rows) -> object:
    did = ledger.create_distribution(asset_id=asset_id, idempotency_key=key, terms=terms(),
                                     actor="maker", rail=Rail.HTS)
    ledger.approve_distribution(did, "checker")
    ledger.snapshot_distribution(did, snapshot=Snapshot.from_chunks([rows], 18),
                                 snapshot_ref="s", gas_model=GasModel())
    return did


def test_the_hts_rail_is_refused_where_it_cannot_pay_and_recorded_where_it_can(ledger):
    # An EVM asset, an asset paying a token that is not HTS, a cash-out: refused, nothing
    # recorded.
    cash_out = DistributionTerms(kind=DistributionKind.CASH_OUT,
                                 rule=Rule(RuleKind.PER_UNIT, 100), record_date=RECORD)
    bond = ledger.import_asset(chain_id=298, token_address=long_zero(1005), name="Bond",
                               symbol="BND", decimals=2, kind="BOND",
                               payment_token=long_zero(1002), payment_decimals=6,
                               vault_address=None, actor="importer")
    not_hts = ledger.import_asset(chain_id=298, token_address=long_zero(1006), name="Other",
                                  symbol="OTH", decimals=18, kind="EQUITY",
                                  payment_token="0x" + "ab" * 20, payment_decimals=6,
                                  vault_address=None, actor="importer")
    for asset_id, wanted in ((import_asset(ledger), terms()), (not_hts, terms()),
                             (bond, cash_out)):
        with pytest.raises(RailNotAvailable):
            ledger.create_distribution(asset_id=asset_id, idempotency_key="x", terms=wanted,
                                       actor="maker", rail=Rail.HTS)
    assert not any(d for d in ledger.recorder.select_notifications(start=1, limit=100)
                   if "Distribution" in d.topic)
    # A Hedera asset paying an HTS token: refused to start ON_DEPOSIT (that watches the
    # vault, which an HTS payout does not draw on: it would wait for ever), in one line.
    asset_id = _hedera_asset(ledger)
    on_deposit = dataclasses.replace(terms(), execution=Execution(
        kind=ExecutionKind.AUTOMATIC, trigger=Trigger.ON_DEPOSIT))
    with pytest.raises(RailNotAvailable, match=r"ON_DEPOSIT .* not the vault"):
        ledger.create_distribution(asset_id=asset_id, idempotency_key="d", terms=on_deposit,
                                   actor="maker", rail=Rail.HTS)
    assert not any(d for d in ledger.recorder.select_notifications(start=1, limit=100)
                   if "Distribution" in d.topic)
    # Otherwise the rail is recorded, and the same key asking for another rail is another
    # request.
    did = ledger.create_distribution(asset_id=asset_id, idempotency_key="k", terms=terms(),
                                     actor="maker", rail=Rail.HTS)
    assert ledger.get_distribution(did).rail is Rail.HTS
    assert ledger.create_distribution(asset_id=asset_id, idempotency_key="k", terms=terms(),
                                      actor="maker", rail=Rail.HTS) == did
    with pytest.raises(IdempotencyConflict):
        ledger.create_distribution(asset_id=asset_id, idempotency_key="k", terms=terms(),
                                   actor="maker")


def test_hts_batches_are_one_transfer_each_and_commit_on_a_topic_not_the_vault(ledger):
    # 20 holders: batches of at most 9 recipients (10 token balance changes with the payer's
    # debit), no gas; the vault's commit is refused.
    did = _snapshotted(ledger, _hedera_asset(ledger), "b", holders(20))
    distribution = ledger.get_distribution(did)
    assert distribution.batch_first_leaves == [0, 9, 18]
    batches = list(ledger.batches(did))
    assert [b.leaf_count for b in batches] == [9, 9, 2]
    assert {b.gas_limit for b in batches} == {0}
    with pytest.raises(IllegalTransition, match="HCS topic"):
        ledger.commit_distribution(did, tx_hash="0x" + "11" * 32, claim_deadline=DEADLINE,
                                   actor="approver")


def test_the_commitment_is_published_once_and_resumed_under_its_recorded_id(ledger, world):
    with world.net.ledger.lock:
        topic = world.net.ledger.new_entity_number()
        world.net.ledger.topics[topic] = Topic(submit_key=None)
    asset_id = _hedera_asset(ledger, payment_num=world.token.num)
    rail = _rail(world)
    rows = [(long_zero(world.holder()[0].num), 10**18) for _ in range(3)]
    # Published: the topic holds the commitment's canonical message at sequence 1, and the
    # distribution is COMMITTED by that TransactionId.
    did = _snapshotted(ledger, asset_id, "first", rows)
    published = publish_commitment(ledger, rail, did, topic_id=f"0.0.{topic}",
                                   claim_deadline=DEADLINE, actor="approver")
    distribution = ledger.get_distribution(did)
    assert (published.topic_id, published.sequence_number) == (f"0.0.{topic}", 1)
    assert distribution.status is Status.COMMITTED
    assert distribution.commit_tx == published.transaction_id
    assert world.net.ledger.topics[topic].messages == [message_of(ledger, distribution)]
    # Asked again: the same place, nothing sent.
    assert publish_commitment(ledger, rail, did, topic_id=f"0.0.{topic}",
                              claim_deadline=DEADLINE, actor="approver") == published
    assert len(world.net.ledger.topics[topic].messages) == 1
    # A publisher that died after recording its TransactionId, before sending it: the next
    # one sends that same id, once.
    other = _snapshotted(ledger, asset_id, "second", rows[:2])
    prepared = rail.prepare_commitment(f"0.0.{topic}",
                                       message_of(ledger, ledger.get_distribution(other)),
                                       rail.next_valid_start_ns())
    ledger.record_commitment_submission(other, transaction_id=prepared.transaction_id,
                                        topic_id=f"0.0.{topic}",
                                        valid_start_ns=prepared.window.valid_start_ns,
                                        valid_seconds=prepared.window.valid_seconds)
    resumed = publish_commitment(ledger, rail, other, topic_id=f"0.0.{topic}",
                                 claim_deadline=DEADLINE, actor="approver")
    assert (resumed.transaction_id, resumed.sequence_number) == (prepared.transaction_id, 2)
    assert len(world.net.ledger.topics[topic].messages) == 2
    # A vault distribution has no topic to publish to.
    vault = ledger.create_distribution(asset_id=asset_id, idempotency_key="vault",
                                       terms=terms(), actor="maker")
    with pytest.raises(IllegalTransition, match="VAULT"):
        ledger.record_commitment_submission(vault, transaction_id="0.0.5@1.0",
                                            topic_id="0.0.7", valid_start_ns=1,
                                            valid_seconds=120)


class _AnotherMessage:
    """A Mirror Node that answers another message than ours at the commitment's place."""

    def __init__(self, history) -> None:
        self.history = history

    def __getattr__(self, name):
        return getattr(self.history, name)

    def topic_message(self, transaction_id):
        found = self.history.topic_message(transaction_id)
        return TopicMessageAnswer(found.topic_id, found.sequence_number, b"not ours")


def test_a_commitment_whose_receipt_the_nodes_forgot_is_placed_from_the_mirror_node(
        ledger, world):
    with world.net.ledger.lock:
        topic = world.net.ledger.new_entity_number()
        world.net.ledger.topics[topic] = Topic(submit_key=None)
    asset_id = _hedera_asset(ledger, payment_num=world.token.num)
    rows = [(long_zero(world.holder()[0].num), 10**18) for _ in range(2)]
    mirror = HederaMirrorStandin(world.net)
    client = MirrorNodeClient(mirror.start())
    try:
        rail = _rail(world, MirrorTransactionHistory(client))  # over the Mirror Node's REST API
        for key in ("first", "second"):
            # The publisher records the TransactionId and sends it, then dies before it
            # reads the receipt; it is restarted after the nodes forgot it (180 s).
            did = _snapshotted(ledger, asset_id, key, rows)
            message = message_of(ledger, ledger.get_distribution(did))
            prepared = rail.prepare_commitment(f"0.0.{topic}", message,
                                               rail.next_valid_start_ns())
            ledger.record_commitment_submission(
                did, transaction_id=prepared.transaction_id, topic_id=f"0.0.{topic}",
                valid_start_ns=prepared.window.valid_start_ns,
                valid_seconds=prepared.window.valid_seconds)
            rail.submit(prepared)
            world.net.ledger.clock.advance(200)
            assert rail.topic_sequence(prepared.transaction_id) is None  # receipt gone
            if key == "first":
                published = publish_commitment(ledger, rail, did, topic_id=f"0.0.{topic}",
                                               claim_deadline=DEADLINE, actor="approver")
                # Placed from the Mirror Node's record of the message, checked to be ours.
                assert (published.transaction_id, published.sequence_number) == (
                    prepared.transaction_id, 1)
                assert ledger.get_distribution(did).status is Status.COMMITTED
            else:
                # A Mirror Node that shows another message there: nothing is recorded.
                liar = _rail(world, _AnotherMessage(MirrorTransactionHistory(client)))
                with pytest.raises(CommitmentNotPublished, match="another message"):
                    publish_commitment(ledger, liar, did, topic_id=f"0.0.{topic}",
                                       claim_deadline=DEADLINE, actor="approver")
                assert ledger.get_distribution(did).commitment is None
        assert len(world.net.ledger.topics[topic].messages) == 2  # each sent once
    finally:
        client.close()
        mirror.stop()


def test_the_supervisor_requeues_hts_batches_and_never_looks_them_up_by_hash(ledger, world,
                                                                              redis_url,
                                                                              schema):
    with world.net.ledger.lock:
        topic = world.net.ledger.new_entity_number()
        world.net.ledger.topics[topic] = Topic(submit_key=None)
    rows = [(long_zero(world.holder()[0].num), 10**18) for _ in range(12)]
    did = _snapshotted(ledger, _hedera_asset(ledger, payment_num=world.token.num), "s", rows)
    publish_commitment(ledger, _rail(world), did, topic_id=f"0.0.{topic}",
                       claim_deadline=DEADLINE, actor="approver")
    ledger.start_execution(did, "operator")
    # Batch 0 has a TransactionId recorded and in flight (its worker died): the supervisor,
    # without any EVM gateway to ask, queues a job for both batches, flagged HTS.
    first = ledger.get_batch(did, 0)
    ledger.record_hts_submission(first.id, transaction_id="0.0.9@1700000000.000000001",
                                 valid_start_ns=1_700_000_000 * 10**9 + 1, valid_seconds=120,
                                 kind="transfer", leaf_indices=[0])
    queue = Queue(f"hts-{schema}", connection=Redis.from_url(redis_url))  # this test's own
    queue.empty()
    supervisor = Supervisor(ledger, gateway=None, queue=queue)  # type: ignore[arg-type]
    assert supervisor.run_once(datetime.now(RECORD.tzinfo))["queued"] == 2
    jobs = queue.get_jobs()
    assert sorted(job.args[0] for job in jobs) == sorted(str(b.id)
                                                         for b in ledger.batches(did))
    assert {job.args[2] for job in jobs} == {True}
    # Again while they are queued: nothing more.
    now = datetime.now(RECORD.tzinfo)
    assert supervisor.run_once(now)["queued"] == 0
    queue.empty()
    # Batch 1's last leaf went by airdrop and waits for its holder's claim (the others paid):
    # its job is queued to read the claims, again only once `follow_airdrops` has passed.
    second = ledger.get_batch(did, 1)
    leaves = list(second.leaf_range)
    paid, airdrop = "0.0.9@1700000000.000000002", "0.0.9@1700000000.000000003"
    for tid, kind, indices in ((paid, "transfer", leaves[:-1]),
                               (airdrop, "airdrop", leaves[-1:])):
        ledger.record_hts_submission(second.id, transaction_id=tid, kind=kind,
                                     valid_start_ns=1_700_000_000 * 10**9 + 2,
                                     valid_seconds=120, leaf_indices=indices)
        ledger.apply_hts_outcome(second.id, transaction_id=tid, status="SUCCESS",
                                 pending=indices if kind == "airdrop" else None)
    second = ledger.get_batch(did, 1)
    assert second.hts_pending and not second.undecided_leaves()
    queued = []
    for seconds in (1, 10, 45):  # batch 0's job each time (its job gone), batch 1's when due
        queued.append(supervisor.run_once(now + timedelta(seconds=seconds))["queued"])
        queue.empty()
    assert queued == [2, 1, 2]
    # Batch 0 is given up on (BLOCKED, for its operator) with its TransactionId still open:
    # its job is still queued every `follow_airdrops`, to find that id's fate (never sent
    # again): an airdrop left in flight would hold back every merged cancellation for good.
    ledger.record_attempt_failure(first.id, reason="BUSY", retry_at=None)
    assert ledger.get_batch(did, 0).status.value == "BLOCKED"
    queued = []
    for seconds in (50, 60, 80):
        jobs_before = {job.args[0] for job in queue.get_jobs()}
        supervisor.run_once(now + timedelta(seconds=seconds))
        queued.append(str(first.id) in {job.args[0] for job in queue.get_jobs()} - jobs_before)
        queue.empty()
    assert queued == [True, False, True]


def test_the_scheduler_snapshots_and_commits_an_hts_distribution_with_its_own_account(
        ledger, world):
    # The security token on the stand-in, held by three holders; the topic; the Mirror Node
    # stand-in; the scheduler's settings (its Hedera account: here the payer's, as a test).
    holders_ = [world.holder()[0].num for _ in range(3)]
    security = world.net.create_token(holders_[0], 3 * 10**18, decimals=18)
    for num in holders_[1:]:
        world.net.associate(num, security)
        with world.net.ledger.lock:
            world.net.ledger.relationships[(num, security)].balance = 10**18
            world.net.ledger.relationships[(holders_[0], security)].balance -= 10**18
    with world.net.ledger.lock:
        topic = world.net.ledger.new_entity_number()
        world.net.ledger.topics[topic] = Topic(submit_key=None)
    mirror = HederaMirrorStandin(world.net)
    mirror.start()
    try:
        settings = Settings.from_env({
            "HEDERA_NODES": f"{world.net.address}=0.0.3",
            "HEDERA_ACCOUNT_ID": str(world.treasury),
            "MASS_PAYOUT_HEDERA_PRIVATE_KEY": world.treasury_key.to_string_der(),
            "HEDERA_TOPIC_ID": f"0.0.{topic}", "HEDERA_MIRROR_NODE_URL": mirror.url})
        snapshot, commit = hts_automation(settings, ledger, GasModel())
        automation = Automation(ledger, None, None, None, GasModel(),  # type: ignore[arg-type]
                                hts_snapshot=snapshot, hts_commit=commit)
        asset_id = ledger.import_asset(
            chain_id=298, token_address=long_zero(security), name="Hedera Equity",
            symbol="HEQ", decimals=18, kind="EQUITY", payment_token=long_zero(world.token.num),
            payment_decimals=6, vault_address=None, actor="importer")
        did = ledger.create_distribution(asset_id=asset_id, idempotency_key="auto",
                                         terms=terms(), actor="maker", rail=Rail.HTS)
        ledger.approve_distribution(did, "checker")
        # Two steps: the holders from the Mirror Node, then the root on the topic.
        now = datetime.now(RECORD.tzinfo)
        assert [automation.advance(did, now), automation.advance(did, now)] == \
            ["snapshotted", "committed"]
    finally:
        mirror.stop()
    distribution = ledger.get_distribution(did)
    assert distribution.status is Status.COMMITTED and distribution.totals.eligible == 3
    assert distribution.commitment.topic_id == f"0.0.{topic}"
    assert world.net.ledger.topics[topic].messages == [message_of(ledger, distribution)]


def test_a_payer_out_of_hbar_waits_and_the_workers_job_resumes_it_once_funded(
        ledger, world, redis_url, schema):
    with world.net.ledger.lock:
        topic = world.net.ledger.new_entity_number()
        world.net.ledger.topics[topic] = Topic(submit_key=None)
    holders_ = [world.holder()[0].num for _ in range(3)]
    did = _snapshotted(ledger, _hedera_asset(ledger, payment_num=world.token.num), "hbar",
                       [(long_zero(n), 10**18) for n in holders_])
    publish_commitment(ledger, _rail(world), did, topic_id=f"0.0.{topic}",
                       claim_deadline=DEADLINE, actor="approver")
    ledger.start_execution(did, "operator")
    mirror = HederaMirrorStandin(world.net)
    mirror.start()
    queue = Queue(f"hts-{schema}", connection=Redis.from_url(redis_url))
    queue.empty()
    try:
        # The worker's job, wired from its settings (it signs as the payout account).
        pay = hts_payer(ledger, HtsRails(Settings.from_env({
            "HEDERA_NODES": f"{world.net.address}=0.0.3",
            "HEDERA_ACCOUNT_ID": str(world.treasury),
            "MASS_PAYOUT_HEDERA_PRIVATE_KEY": world.treasury_key.to_string_der(),
            "HEDERA_MIRROR_NODE_URL": mirror.url})))
        batch_id = ledger.get_batch(did, 0).id
        # No hbar left for fees: refused at precheck, the distribution waits for funds.
        world.net.set_tinybars(world.treasury.num, 1_000)
        assert pay(batch_id).action == "waiting-for-funds"
        assert ledger.get_distribution(did).status is Status.WAITING_FOR_FUNDS
        # The supervisor queues one job for it per interval; unfunded, the job changes nothing.
        supervisor = Supervisor(ledger, gateway=None, queue=queue)  # type: ignore[arg-type]
        now = datetime.now(RECORD.tzinfo)
        assert [supervisor.run_once(now + timedelta(seconds=s))["queued"] for s in (0, 1)] \
            == [1, 0]
        pay(batch_id)
        assert ledger.get_distribution(did).status is Status.WAITING_FOR_FUNDS
        # Funded: the next job resumes it and pays every holder, exactly once.
        world.net.set_tinybars(world.treasury.num, 10 * 100_000_000)
        pay(batch_id)
    finally:
        queue.empty()
        mirror.stop()
    distribution = ledger.get_distribution(did)
    assert distribution.status is Status.COMPLETED
    assert [world.balance(AccountId(0, 0, n)) for n in holders_] == \
        [leaf.net for leaf in ledger.get_batch(did, 0).leaves.values()]
