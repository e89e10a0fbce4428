"""A batch accepts only final, consistent outcomes for its own leaves."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import pytest

from domain.batch import BatchStatus, LeafOutcome, PayoutBatch
from domain.entitlements import Entitlement, SkipReason
from domain.errors import IllegalTransition, InvalidInput

NOW = datetime(2026, 7, 1, tzinfo=UTC)


def batch() -> PayoutBatch:
    holders = [
        Entitlement(10, "0xA", 5, 50, 5, 45, 7, None),
        Entitlement(11, "0xB", 0, 0, 0, 0, None, SkipReason.ZERO_BALANCE),
        Entitlement(12, "0xC", 6, 60, 6, 54, 8, None),
    ]
    return PayoutBatch.plan(distribution_id=uuid4(), number=3, first_leaf=7, holders=holders,
                            range_proof=[b"\1" * 32], gas_limit=1_000_000)


def test_plan_records_every_holder_and_the_leaf_range():
    b = batch()
    assert b.leaf_range == range(7, 9) and b.total_net == 99 and len(b.holders) == 3
    assert b.status is BatchStatus.PLANNED and b.range_proof == ["0x" + "01" * 32]


def test_a_non_contiguous_batch_is_refused():
    holders = [Entitlement(0, "0xA", 1, 1, 0, 1, 0, None),
               Entitlement(1, "0xB", 1, 1, 0, 1, 2, None)]  # leaf 1 is missing
    with pytest.raises(InvalidInput, match="contiguous"):
        PayoutBatch.plan(distribution_id=uuid4(), number=0, first_leaf=0, holders=holders,
                         range_proof=[], gas_limit=1)


def test_submission_then_outcomes_then_settlement():
    b = batch()
    b.record_submission(tx_hash="0x1", nonce=4, leaf_indices=[7, 8], signed_at=NOW)
    b.record_paid(leaf_index=7, amount=45, tx_hash="0x1")
    b.record_failed(leaf_index=8, reason="Blocklisted", tx_hash="0x1")
    b.settle(tx_hash="0x1", covered=[7, 8], already_paid=0, gas_used=80_000)
    assert b.status is BatchStatus.SETTLED
    assert b.outcomes == {7: LeafOutcome.PAID, 8: LeafOutcome.FAILED}
    assert b.unsettled_leaves() == [8]
    # An operator's retry pays the failed holder later; the paid one is never re-sent.
    b.record_submission(tx_hash="0x2", nonce=9, leaf_indices=[8], signed_at=NOW)
    b.record_paid(leaf_index=8, amount=54, tx_hash="0x2")
    assert b.attempts == 2 and b.amount_paid == 99 and b.unsettled_leaves() == []


def test_inconsistent_outcomes_are_refused_and_record_nothing():
    b = batch()
    b.record_submission(tx_hash="0x1", nonce=4, leaf_indices=[7, 8], signed_at=NOW)
    b.record_paid(leaf_index=7, amount=45, tx_hash="0x1")
    before = len(b.collect_events())
    b = batch()
    b.record_submission(tx_hash="0x1", nonce=4, leaf_indices=[7, 8], signed_at=NOW)
    b.record_paid(leaf_index=7, amount=45, tx_hash="0x1")
    with pytest.raises(IllegalTransition):
        b.record_paid(leaf_index=7, amount=45, tx_hash="0x9")  # a second payment
    with pytest.raises(IllegalTransition):
        b.record_failed(leaf_index=7, reason="late", tx_hash="0x9")  # paid cannot fail
    with pytest.raises(IllegalTransition):
        b.record_paid(leaf_index=8, amount=1, tx_hash="0x1")  # not its entitlement
    with pytest.raises(InvalidInput):
        b.record_paid(leaf_index=9, amount=1, tx_hash="0x1")  # not this batch's leaf
    with pytest.raises(IllegalTransition):
        b.settle(tx_hash="0x1", covered=[7, 8], already_paid=0, gas_used=1)  # 8 undecided
    assert len(b.collect_events()) == before


def test_one_transaction_pays_its_leaves_in_one_event_all_or_nothing():
    b = batch()
    b.record_submission(tx_hash="0x1", nonce=4, leaf_indices=[7, 8], signed_at=NOW)
    before = len(b.pending_events)
    b.record_paid_leaves(leaf_indices=[8, 7], tx_hash="0x1")
    (paid,) = b.pending_events[before:]
    assert isinstance(paid, PayoutBatch.LeavesPaid)
    assert (paid.leaf_indices, paid.amount) == ([7, 8], 99)  # Σ of the entitlements' nets
    assert b.amount_paid == 99 and b.unsettled_leaves() == []
    # Refused as a whole: nothing of it is recorded.
    other = batch()
    other.record_paid_leaves(leaf_indices=[7], tx_hash="0x1")
    count = len(other.pending_events)
    for leaves, error in (([7, 8], IllegalTransition),  # 7 already paid
                          ([8, 9], InvalidInput),  # 9 is not this batch's
                          ([8, 8], InvalidInput), ([], InvalidInput)):
        with pytest.raises(error):
            other.record_paid_leaves(leaf_indices=leaves, tx_hash="0x2")
    assert len(other.pending_events) == count and other.outcomes == {7: LeafOutcome.PAID}


def test_a_copy_shares_the_frozen_entitlements_but_not_its_state():
    import copy

    b = batch()
    b.record_submission(tx_hash="0x1", nonce=4, leaf_indices=[7, 8], signed_at=NOW)
    c = copy.deepcopy(b)
    c.record_paid_leaves(leaf_indices=[7], tx_hash="0x1")
    assert b.outcomes == {} and b.amount_paid == 0 and len(b.pending_events) == 3
    assert c.holders == b.holders and c.holders is not b.holders
    assert all(x is y for x, y in zip(c.holders, b.holders, strict=True))
    assert c.submitted_leaves == b.submitted_leaves
    assert c.submitted_leaves["0x1"] is not b.submitted_leaves["0x1"]
