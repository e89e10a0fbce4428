"""PayoutLedger on a real PostgreSQL: what is recorded, what is refused, what is reloaded."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from domain import ids
from domain.asset import Asset, BondTerms, CorporateAction
from domain.batch import LeafOutcome, PayoutBatch
from domain.chain_facts import (
    BatchSettledOnChain,
    DistributionReclaimed,
    LeafClaimed,
    LeafFailed,
    LeavesPaid,
    ShareTransfer,
    TokenSnapshotTaken,
    UnreadableLog,
    VaultAdministered,
    VaultDeposit,
    VaultSwept,
    coalesce_paid,
)
from domain.cursor import ChainCursor, ReorgDetected
from domain.distribution import Distribution, Status
from domain.entitlements import Snapshot
from domain.errors import (
    AlreadyExists,
    DomainError,
    IdempotencyConflict,
    IllegalTransition,
    InvalidInput,
    InvalidSnapshot,
    MakerCheckerViolation,
    NotFound,
)
from domain.holdings import TransfersObserved
from domain.hts_transaction_ids import HtsTransactionIdUse
from domain.merkle import MerkleTree, PartialTree, leaf_hash
from domain.planning import GasModel
from domain.rails import Rail
from domain.schedule import MissedPolicy, Schedule, ScheduleStatus
from domain.terms import Execution, ExecutionKind, Recurrence, Rule, RuleKind
from domain.treasury import TreasuryTx
from domain.vault_admin import VaultOps
from tests.ledger.helpers import RECORD, USD, holders, import_asset, terms

SMALL_BATCHES = GasModel(per_leaf=1_000_000, budget=12_000_000)  # 11 leaves per batch


NOW = datetime(2026, 7, 1, tzinfo=UTC)


def position(ledger) -> int:
    return ledger.recorder.max_notification_id() or 0


def submitted_three(ledger, did):
    """An approved distribution of three holders, committed, started, and its one batch
    submitted in tx 0xaa: the batch, waiting for the chain's outcomes."""
    ledger.snapshot_distribution(did, snapshot=Snapshot.from_chunks([holders(3)], 18),
                                 snapshot_ref="s", gas_model=GasModel())
    ledger.commit_distribution(did, tx_hash="0x" + "11" * 32,
                               claim_deadline=RECORD + timedelta(days=30), actor="approver")
    ledger.start_execution(did, "operator")
    batch = ledger.get_batch(did, 0)
    ledger.record_submission(batch.id, tx_hash="0xaa", nonce=1, leaf_indices=[0, 1, 2],
                             signed_at=NOW)
    return batch


def approved(ledger, key="q2", **term_overrides):
    asset_id = import_asset(ledger)
    did = ledger.create_distribution(asset_id=asset_id, idempotency_key=key,
                                     terms=terms(**term_overrides), actor="maker")
    ledger.approve_distribution(did, "checker")
    return did


def test_a_snapshot_is_recorded_atomically_and_reloads_identically(ledger, reopen):
    # An approved dividend of 1,000 USD over 100 holders, 10 % withheld.
    did = approved(ledger)
    rows = holders(100)
    snapshot = Snapshot.from_chunks([rows[:40], rows[40:]], decimals=18)
    totals = ledger.snapshot_distribution(did, snapshot=snapshot, snapshot_ref="snap-1",
                                          gas_model=SMALL_BATCHES)
    # A fresh application on the same store sees the same distribution and batches.
    again = reopen()
    d = again.get_distribution(did)
    assert d.status is Status.SNAPSHOTTED and d.totals == totals and d.batch_count == 10
    batches = list(again.batches(did))
    records = [h for b in batches for h in b.holders]
    assert len(records) == 100 and [h.position for h in records] == list(range(100))
    # The root re-derived from the holder records is the one recorded.
    tree = MerkleTree([leaf_hash(h.leaf_index, h.account, h.net) for h in records])
    assert d.merkle_root == "0x" + tree.root.hex()
    # Conservation, from the reloaded records.
    assert (sum(h.net for h in records) + sum(h.withheld for h in records) + totals.dust
            + sum(h.skipped_amount for h in records)) == totals.gross == 1_000_000_000
    # Each batch carries a range proof that rebuilds the committed root.
    for b in batches:
        leaves = [leaf_hash(i, b.leaves[i].account, b.leaves[i].net) for i in b.leaf_range]
        PartialTree(tree.leaf_count, b.first_leaf, leaves,
                    [bytes.fromhex(p[2:]) for p in b.range_proof], tree.root)


def test_every_event_type_round_trips_through_postgres_unchanged(ledger, reopen):
    recorded = []
    original_save = ledger.save

    def capturing_save(*aggregates, **kwargs):
        recordings = original_save(*aggregates, **kwargs)
        recorded.extend(r.domain_event for r in recordings)
        return recordings

    ledger.save = capturing_save
    # Asset lifecycle.
    asset_id = import_asset(ledger)
    ledger.pause_asset(asset_id, "ops", "corporate action pending")
    ledger.resume_asset(asset_id, "ops")
    ledger.switch_asset_sync(asset_id, False, "ops")
    ledger.link_vault(asset_id, "0x" + "c3" * 20, "ops")
    action = CorporateAction(1, "DIVIDEND", RECORD, RECORD + timedelta(days=7), 25)
    ledger.record_corporate_actions(asset_id, [action])
    assert ledger.record_corporate_actions(asset_id, [action]) == 0  # re-reading is a no-op
    # A distribution through to completion, with batch outcomes.
    did = ledger.create_distribution(asset_id=asset_id, idempotency_key="full", terms=terms(),
                                     actor="maker")
    ledger.approve_distribution(did, "checker")
    batch = submitted_three(ledger, did)
    vault, failing = "0x" + "c3" * 20, batch.leaves[2]
    # The chain's outcomes, as the ingestor hands them over: two paid, one blocked.
    ledger.apply_chain_facts(
        chain_id=31337, contract=vault, from_block=1, to_block=10, block_hash="0xb10",
        chain_hash_at_cursor=None, facts=[
            LeavesPaid(did, (0, 1), "0xaa"),
            LeafFailed(did, 2, failing.account, "Blocked(0x..)", "0xaa"),
            BatchSettledOnChain(did, 0, 3, 2, 1, 0, batch.leaves[0].net + batch.leaves[1].net,
                                "0xaa", 123_456),
            VaultDeposit(asset_id, vault, USD, "0x" + "e5" * 20, 10, "0xdd"),
            ShareTransfer(asset_id, "0x" + "00" * 20, "0x" + "e6" * 20, 500, "0xde", 7, 1),
            TokenSnapshotTaken(asset_id, 2, "0xdf", 8),
            UnreadableLog(5, "0xee", 0, vault, "undecodable: test"),
        ])
    assert ledger.get_distribution(did).status is Status.COMPLETED_WITH_FAILURES
    # An operator asks for the failed holder to be paid again: back to executing.
    assert ledger.retry_distribution(did, actor="operator", reason="holder unblocked")[1:] \
        == (1, 0)
    assert ledger.get_distribution(did).status is Status.EXECUTING
    # The blocked holder claims meanwhile: the distribution completes.
    ledger.apply_chain_facts(
        chain_id=31337, contract=vault, from_block=1, to_block=20, block_hash="0xb20",
        chain_hash_at_cursor="0xb10", facts=[LeafClaimed(did, 2, failing.account, failing.net,
                                                         "0xcc")])
    assert ledger.get_distribution(did).status is Status.COMPLETED
    # A reorg deeper than the confirmations: the chain no longer has the cursor's block, so
    # ingestion halts and says so on the cursor (once, however often the step is retried).
    for _ in range(2):
        with pytest.raises(ReorgDetected):
            ledger.apply_chain_facts(chain_id=31337, contract=vault, from_block=21,
                                     to_block=22, block_hash="0xb22",
                                     chain_hash_at_cursor="0xforked", facts=[])
    # A second distribution waits for funds, has a submission refused, and expires.
    late = ledger.create_distribution(asset_id=asset_id, idempotency_key="late", terms=terms(),
                                      actor="maker")
    ledger.approve_distribution(late, "checker")
    ledger.snapshot_distribution(late, snapshot=Snapshot.from_chunks([holders(2)], 18),
                                 snapshot_ref="s", gas_model=GasModel())
    ledger.commit_distribution(late, tx_hash="0x" + "22" * 32,
                               claim_deadline=RECORD + timedelta(days=30), actor="approver")
    ledger.await_funds(late, needed=10, available=1)
    ledger.resume_with_funds(late, available=10, needed=10)
    late_batch = ledger.get_batch(late, 0).id
    ledger.record_attempt_failure(late_batch, reason="RPC failed: timeout",
                                  retry_at=NOW + timedelta(seconds=2))
    ledger.record_submission(late_batch, tx_hash="0xbb", nonce=2, leaf_indices=[0],
                             signed_at=NOW)
    ledger.reject_submission(late_batch, tx_hash="0xbb", reason="EnforcedPause()")
    ledger.retry_distribution(late, actor="operator", reason="vault unpaused")
    # The HTS rail: a TransactionId recorded before submitting, later proven dead.
    hts_id = "0.0.1002@1700000000.000000001"
    ledger.record_hts_submission(late_batch, transaction_id=hts_id,
                                 valid_start_ns=1_700_000_000_000_000_001, valid_seconds=120,
                                 kind="transfer", leaf_indices=[0])
    ledger.record_hts_dead(late_batch, transaction_id=hts_id)
    ledger.record_hts_submission(late_batch, transaction_id=hts_id + "0",
                                 valid_start_ns=1_700_000_000_000_000_010, valid_seconds=120,
                                 kind="transfer", leaf_indices=[0])
    ledger.record_hts_failed(late_batch, transaction_id=hts_id + "0",
                             status="ACCOUNT_FROZEN_FOR_TOKEN")
    # An airdrop leaves both holders pending (not associated); one claims, the other's
    # airdrop is cancelled after the claim deadline.
    ledger.record_hts_submission(late_batch, transaction_id=hts_id + "1",
                                 valid_start_ns=1_700_000_000_000_000_011, valid_seconds=120,
                                 kind="airdrop", leaf_indices=[0, 1])
    ledger.apply_hts_outcome(late_batch, transaction_id=hts_id + "1", status="SUCCESS",
                             pending=[0, 1])
    ledger.record_airdrops_claimed(late_batch, leaf_indices=[0], indexed_until=1.7e9)
    ledger.record_hts_submission(late_batch, transaction_id=hts_id + "2",
                                 valid_start_ns=1_700_000_000_000_000_012, valid_seconds=120,
                                 kind="cancel", leaf_indices=[1])
    ledger.record_airdrops_cancelled(late_batch, transaction_id=hts_id + "2")
    ledger.expire_distribution(late)
    # Treasury: after the deadline a sweep goes out and is swept; a reclaim is rejected by
    # the chain, asked for again and reclaimed (the vault's logs, on a cursor of their own).
    after = RECORD + timedelta(days=31)
    for kind, tx in (("sweep", "0x51"), ("reclaim", "0x52"), ("reclaim", "0x53")):
        number, _ = ledger.request_sweep(late, actor="maker", amount=1, reason="dust",
                                         now=after) if kind == "sweep" \
            else ledger.request_reclaim(late, actor="maker", reason="closed", now=after)
        ledger.approve_treasury_op(late, number, "checker")
        ledger.record_treasury_submission(late, number, tx_hash=tx, nonce=9, signed_at=after)
        if tx == "0x52":
            ledger.reject_treasury_submission(late, number, tx_hash=tx, reason="paused")
    ledger.apply_chain_facts(
        chain_id=31337, contract="0x" + "dd" * 20, from_block=1, to_block=1,
        block_hash="0xd1", chain_hash_at_cursor=None, facts=[
            VaultSwept("0x" + "dd" * 20, USD, "0x" + "ee" * 20, 1, "0x51"),
            DistributionReclaimed(late, "0x" + "ee" * 20, 0, "0x53")])
    assert ledger.get_distribution(late).swept == 1
    # Schedules: one hourly, paused and resumed, fired late (missed + spawned), cancelled;
    # one of a single occurrence, which finishes once it has spawned it.
    hourly = ledger.define_schedule(
        asset_id=asset_id, key="hourly", missed_policy=MissedPolicy.RUN_LATEST,
        misfire_grace=timedelta(minutes=1), actor="maker",
        terms=terms(execution=Execution(ExecutionKind.RECURRING, recurrence=Recurrence.HOURLY,
                                        start=RECORD, count=24)))
    ledger.approve_schedule(hourly, "checker")
    ledger.pause_schedule(hourly, "ops", "holiday")
    ledger.resume_schedule(hourly, "ops")
    assert len(ledger.fire_schedule(hourly, RECORD + timedelta(hours=2, minutes=30))) == 1
    ledger.cancel_schedule(hourly, "ops", "replaced")
    once = ledger.define_schedule(
        asset_id=asset_id, key="once", missed_policy=MissedPolicy.RUN_ALL,
        misfire_grace=timedelta(0), actor="maker",
        terms=terms(execution=Execution(ExecutionKind.RECURRING, recurrence=Recurrence.DAILY,
                                        start=RECORD, count=1)))
    ledger.approve_schedule(once, "checker")
    ledger.fire_schedule(once, RECORD)
    assert ledger.get_schedule(once).status is ScheduleStatus.FINISHED
    other = ledger.create_distribution(asset_id=asset_id, idempotency_key="void",
                                       terms=terms(), actor="maker")
    ledger.cancel_distribution(other, "maker", "duplicate")
    # A batch as recorded before entitlements and payments became one event each: its
    # per-holder events are no longer emitted, but stored ones must still round-trip.
    legacy = PayoutBatch(distribution_id=other, number=0, first_leaf=0, leaf_count=1,
                         total_net=5, range_proof=[], gas_limit=100_000)
    legacy._holder_entitled(position=0, account="0x" + "a7" * 20, balance=10, gross=6,
                            withheld=1, net=5, leaf_index=0, skip_reason=None)
    legacy._leaf_paid(leaf_index=0, amount=5, tx_hash="0xa7")
    ledger.save(legacy)
    # A bond keeps the terms read from its token.
    bond = ledger.import_asset(chain_id=31337, token_address="0x" + "b0" * 20, name="Bond",
                               symbol="BND", decimals=2, kind="BOND", payment_token=USD,
                               payment_decimals=6, vault_address=None, actor="importer")
    ledger.update_bond_terms(bond, BondTerms(100_000_000, RECORD.date() + timedelta(days=365)),
                             actor="importer", reason="read from the token")
    # The HTS rail: a Hedera asset paying an HTS token; its commitment's first TransactionId
    # is abandoned (it failed), the second one publishes it.
    hts_asset = ledger.import_asset(chain_id=298, token_address="0x" + "00" * 18 + "03e9",
                                    name="Hedera Equity", symbol="HEQ", decimals=18,
                                    kind="EQUITY", payment_token="0x" + "00" * 18 + "03ea",
                                    payment_decimals=6, vault_address=None, actor="importer")
    on_hts = ledger.create_distribution(asset_id=hts_asset, idempotency_key="hts",
                                        terms=terms(), actor="maker", rail=Rail.HTS)
    ledger.approve_distribution(on_hts, "checker")
    ledger.snapshot_distribution(on_hts, snapshot=Snapshot.from_chunks([holders(2)], 18),
                                 snapshot_ref="s", gas_model=GasModel())
    for n, tid in enumerate(("0.0.1001@1700000000.000000001", "0.0.1001@1700000001.0")):
        ledger.record_commitment_submission(on_hts, transaction_id=tid, topic_id="0.0.1003",
                                            valid_start_ns=1_700_000_000 * 10**9 + n,
                                            valid_seconds=120)
        if n == 0:
            ledger.abandon_commitment(on_hts, transaction_id=tid, reason="INVALID_TOPIC_ID")
        else:
            ledger.publish_commitment(on_hts, transaction_id=tid, sequence_number=1,
                                      claim_deadline=RECORD + timedelta(days=30),
                                      actor="approver")
    # The token's ControllerRedemption logs of a cash-out's transaction, as ingested.
    redeemed = ledger.get_asset(bond)
    redeemed.record_redemptions(distribution_id=other, tx_hash="0x81", units=5, holders=2)
    ledger.save(redeemed)
    # Its withheld tax is swept to a tax authority configured on the asset.
    ledger.set_sweep_accounts(bond, tax_authority="0x" + "7a" * 20, dust=None, actor="admin",
                              reason="the tax office's account")
    # Its vault is paused on request (approved, sent, settled by the vault's log); a grant is
    # reverted by the chain (rejected).
    ledger.link_vault(bond, "0x" + "ba" * 20, "importer")
    pause, _ = ledger.request_vault_op(bond, action="PAUSE", reason="incident", actor="ann",
                                       now=after)
    grant, _ = ledger.request_vault_op(bond, action="GRANT", role="PAUSER",
                                       account="0x" + "5a" * 20, reason="on call", actor="ann",
                                       now=after)
    for number, tx in ((pause, "0x71"), (grant, "0x72")):
        ledger.approve_vault_op(bond, number, "bob")
        ledger.record_vault_submission(bond, number, tx_hash=tx, nonce=1, signed_at=after)
    ledger.reject_vault_submission(bond, grant, tx_hash="0x72", reason="reverted")
    # An upgrade's implementation is deployed (recorded before it is broadcast, then mined)
    upgrade, _ = ledger.request_vault_op(bond, action="UPGRADE", target="PayoutVaultV2",
                                         reason="release 2", actor="ann", now=after)
    ledger.approve_vault_op(bond, upgrade, "bob")
    ledger.record_vault_deployment(bond, upgrade, tx_hash="0x74", nonce=2, signed_at=after,
                                   expected_version=ledger.vault_ops(bond).version)
    ledger.record_vault_implementation(bond, upgrade, tx_hash="0x74", address="0x" + "1c" * 20)
    ledger.apply_chain_facts(
        chain_id=31337, contract="0x" + "ba" * 20, from_block=1, to_block=1,
        block_hash="0xe1", chain_hash_at_cursor=None,
        facts=[VaultAdministered(bond, "0x" + "ba" * 20, "Paused", "0x71"),
               # an admin's own call (no request of ours): observed
               VaultAdministered(bond, "0x" + "ba" * 20, "Unpaused", "0x73", "by 0x" + "ad" * 20)])
    assert ledger.vault_ops(bond).op(pause).state == "DONE"
    assert [c.log for c in ledger.vault_ops(bond).observed] == ["Unpaused"]

    # Read everything back through a fresh application's notification log.
    stored = reopen().recorder.select_notifications(start=1, limit=10_000)
    mapper = ledger.mapper
    reloaded = [mapper.to_domain_event(n) for n in stored]
    assert reloaded == recorded
    # Guard: every event class the aggregates define was exercised above.
    defined = {cls for agg in (Asset, Distribution, PayoutBatch, ChainCursor, TransfersObserved,
                                Schedule, TreasuryTx, HtsTransactionIdUse, VaultOps)
               for cls in vars(agg).values()
               if isinstance(cls, type) and issubclass(cls, agg.Event)
               and name_of(cls) not in {"Event", "Created"}}  # the library's generated bases
    assert {type(e) for e in reloaded} >= defined


def test_idempotency_key_same_request_same_id_other_request_conflicts(ledger):
    asset_id = import_asset(ledger)
    first = ledger.create_distribution(asset_id=asset_id, idempotency_key="k", terms=terms(),
                                       actor="maker")
    before = position(ledger)
    # Replaying the identical request returns the same distribution and records nothing.
    assert ledger.create_distribution(asset_id=asset_id, idempotency_key="k", terms=terms(),
                                      actor="maker") == first
    # The same key with another amount is a conflict, not a second distribution.
    with pytest.raises(IdempotencyConflict):
        ledger.create_distribution(asset_id=asset_id, idempotency_key="k",
                                   terms=terms(total=5), actor="maker")
    assert position(ledger) == before
    assert first == ids.distribution_id(asset_id, "k")


@pytest.mark.parametrize("bad_rows", [
    [],                                                          # empty snapshot
    [("0x" + "01" * 20, 5), ("0x" + "01" * 20, 7)],              # duplicate holder
    [("0x" + "01" * 20, 5), ("not-an-address", 7)],              # malformed account
    [("0x" + "01" * 20, -5)],                                    # negative balance
    [("0x" + "01" * 20, 0)],                                     # nobody eligible
])
def test_a_bad_snapshot_records_nothing(ledger, bad_rows):
    did = approved(ledger)
    before = position(ledger)
    def snapshot_bad_rows():
        snapshot = Snapshot.from_chunks([bad_rows], 18)
        ledger.snapshot_distribution(did, snapshot=snapshot, snapshot_ref="s",
                                     gas_model=GasModel())

    with pytest.raises(DomainError):
        snapshot_bad_rows()
    assert position(ledger) == before
    assert ledger.get_distribution(did).status is Status.APPROVED
    assert ids.batch_id(did, 0) not in ledger.repository


def test_decimals_that_do_not_match_the_asset_are_refused(ledger):
    did = approved(ledger)
    before = position(ledger)
    with pytest.raises(InvalidSnapshot, match="decimals"):
        ledger.snapshot_distribution(did, snapshot=Snapshot.from_chunks([holders(3)], 6),
                                     snapshot_ref="s", gas_model=GasModel())
    with pytest.raises(InvalidInput, match="decimals"):
        ledger.create_distribution(asset_id=import_asset(ledger), idempotency_key="x",
                                   terms=terms(), actor="maker", payment_decimals=18)
    assert position(ledger) == before


def test_refusals_are_domain_errors_and_record_nothing(ledger):
    did = approved(ledger, key="a")
    before = position(ledger)
    with pytest.raises(IllegalTransition):
        ledger.approve_distribution(did, "someone-else")  # already approved
    with pytest.raises(NotFound):
        ledger.get_distribution(ids.distribution_id(did, "nope"))
    other = ledger.create_distribution(asset_id=import_asset(ledger), idempotency_key="b",
                                       terms=terms(), actor="maker")
    with pytest.raises(MakerCheckerViolation):
        ledger.approve_distribution(other, "maker")
    with pytest.raises(AlreadyExists):
        ledger.import_asset(chain_id=31337, token_address="0x" + "a1" * 20, name="Other",
                            symbol="OTH", decimals=18, kind="EQUITY",
                            payment_token="0x" + "b2" * 20, payment_decimals=6,
                            vault_address=None, actor="importer")
    assert position(ledger) == before + 1  # only the second distribution was created


def test_percentage_rule_freezes_the_vault_balance_once(ledger, reopen):
    did = approved(ledger, rule=Rule(RuleKind.PERCENTAGE, 2_500))
    totals = ledger.snapshot_distribution(did, snapshot=Snapshot.from_chunks([holders(7)], 18),
                                          snapshot_ref="s", gas_model=GasModel(),
                                          vault_balance=1_000_003)
    assert totals.gross == 1_000_003 * 2_500 // 10_000
    d = reopen().get_distribution(did)
    assert d.totals == totals


def test_two_processes_approving_at_once_cannot_both_win(ledger, reopen):
    # Two checkers, on two application instances, approve the same distribution at once.
    asset_id = import_asset(ledger)
    did = ledger.create_distribution(asset_id=asset_id, idempotency_key="race", terms=terms(),
                                     actor="maker")
    apps = [reopen(), reopen()]
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def approve(i):
        barrier.wait()
        try:
            apps[i].approve_distribution(did, f"checker-{i}")
            outcomes.append("approved")
        except (AlreadyExists, IllegalTransition) as err:
            outcomes.append(type(err).__name__)

    threads = [threading.Thread(target=approve, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Exactly one approval is recorded; the loser gets a domain error, never a raw DB error.
    assert outcomes.count("approved") == 1 and len(outcomes) == 2
    d = ledger.get_distribution(did)
    assert d.version == 2 and d.approved_by in {"checker-0", "checker-1"}


def name_of(cls: type) -> str:
    return cls.__name__


def test_paid_leaves_are_one_event_and_a_refused_leaf_never_blocks_the_others(ledger):
    did = approved(ledger, key="paid-once")
    batch = submitted_three(ledger, did)
    vault, nets = "0x" + "c3" * 20, [batch.leaves[i].net for i in range(3)]
    cursor_id = ChainCursor.create_id(31337, vault)

    def mine(block, facts):
        previous = ledger.get_cursor(31337, vault)
        ledger.apply_chain_facts(chain_id=31337, contract=vault, from_block=1, to_block=block,
                                 block_hash=f"0x{block:064x}", facts=facts,
                                 chain_hash_at_cursor=previous.last_hash if previous else None)

    # Two Paid logs of one transaction (two bitmap words): one fact, as the ingestor
    # coalesces them, and one event.
    mine(1, coalesce_paid([LeavesPaid(did, (0,), "0xaa"), LeavesPaid(did, (1,), "0xaa")]))
    paid = [e for e in ledger.events.get(batch.id) if isinstance(e, PayoutBatch.LeavesPaid)]
    assert [(e.leaf_indices, e.amount) for e in paid] == [([0, 1], nets[0] + nets[1])]
    # A contradicting fact: leaf 1 again, and a leaf the distribution never committed.
    # Leaf 2 is still recorded (on its own), each refusal on the cursor with its reason.
    mine(2, [LeavesPaid(did, (1, 2, 99), "0xab")])
    assert ledger.get_batch(did, 0).outcomes == dict.fromkeys(range(3), LeafOutcome.PAID)
    d = ledger.get_distribution(did)
    assert (d.paid, d.amount_paid) == (3, sum(nets))
    reasons = [e.reason for e in ledger.events.get(cursor_id)
               if isinstance(e, ChainCursor.LogUnreadable)]
    assert len(reasons) == 2
    assert reasons[0].startswith("leaf 99:") and "is not in distribution" in reasons[0]
    assert reasons[1].startswith("leaf 1:") and "already recorded as paid" in reasons[1]
