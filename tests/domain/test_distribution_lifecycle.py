"""Every legal move works; every illegal one raises and records nothing.

The expected moves below are written out independently of domain.distribution.TRANSITIONS:
if the production table drifts from this specification, this test fails.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from domain.distribution import Distribution, Status
from domain.entitlements import Totals
from domain.errors import IllegalTransition, InvalidInput, MakerCheckerViolation
from domain.terms import DistributionKind, DistributionTerms, Rule, RuleKind

RECORD = datetime(2026, 6, 30, tzinfo=UTC)
TOTALS = Totals(holders=3, eligible=2, skipped=1, eligible_balance=30, gross=100, net=90,
                withheld=9, dust=1, skipped_amount=0)
S = Status

SPEC: dict[Status, set[Status]] = {
    S.CREATED: {S.APPROVED, S.CANCELLED},
    S.APPROVED: {S.SNAPSHOTTED, S.CANCELLED},
    S.SNAPSHOTTED: {S.COMMITTED, S.CANCELLED},
    S.COMMITTED: {S.EXECUTING, S.WAITING_FOR_FUNDS, S.CANCELLED, S.EXPIRED},
    S.EXECUTING: {S.WAITING_FOR_FUNDS, S.COMPLETED, S.COMPLETED_WITH_FAILURES, S.EXPIRED},
    S.WAITING_FOR_FUNDS: {S.EXECUTING, S.EXPIRED},
    S.COMPLETED_WITH_FAILURES: {S.EXECUTING, S.COMPLETED, S.EXPIRED},
    S.COMPLETED: set(), S.CANCELLED: set(), S.EXPIRED: set(),
}

MOVES: dict[Status, Callable[[Distribution], None]] = {
    S.APPROVED: lambda d: d.approve("checker"),
    S.SNAPSHOTTED: lambda d: d.record_snapshot(snapshot_ref="s1", vault_balance=None,
                                               totals=TOTALS, merkle_root=b"\1" * 32,
                                               batch_first_leaves=[0]),
    S.COMMITTED: lambda d: d.commit(tx_hash="0xabc", claim_deadline=RECORD + timedelta(days=90),
                                    actor="approver"),
    S.EXECUTING: lambda d: d.start_execution("operator"),
    S.WAITING_FOR_FUNDS: lambda d: d.await_funds(needed=90, available=10),
    S.COMPLETED: lambda d: d.complete(paid=2, failed=0, amount_paid=90),
    S.COMPLETED_WITH_FAILURES: lambda d: d.complete(paid=1, failed=1, amount_paid=45),
    S.CANCELLED: lambda d: d.cancel("maker", "wrong record date"),
    S.EXPIRED: lambda d: d.expire(unpaid=45),
}

PATHS: dict[Status, list[Status]] = {
    S.CREATED: [],
    S.APPROVED: [S.APPROVED],
    S.SNAPSHOTTED: [S.APPROVED, S.SNAPSHOTTED],
    S.COMMITTED: [S.APPROVED, S.SNAPSHOTTED, S.COMMITTED],
    S.EXECUTING: [S.APPROVED, S.SNAPSHOTTED, S.COMMITTED, S.EXECUTING],
    S.WAITING_FOR_FUNDS: [S.APPROVED, S.SNAPSHOTTED, S.COMMITTED, S.WAITING_FOR_FUNDS],
    S.COMPLETED: [S.APPROVED, S.SNAPSHOTTED, S.COMMITTED, S.EXECUTING, S.COMPLETED],
    S.COMPLETED_WITH_FAILURES: [S.APPROVED, S.SNAPSHOTTED, S.COMMITTED, S.EXECUTING,
                                S.COMPLETED_WITH_FAILURES],
    S.CANCELLED: [S.CANCELLED],
    S.EXPIRED: [S.APPROVED, S.SNAPSHOTTED, S.COMMITTED, S.EXPIRED],
}


def distribution_in(status: Status) -> Distribution:
    d = Distribution.create(
        asset_id=uuid4(), idempotency_key="k",
        terms=DistributionTerms(DistributionKind.DIVIDEND, Rule(RuleKind.PRO_RATA, 100), RECORD),
        asset_decimals=18, payment_decimals=6, actor="maker",
    )
    for step in PATHS[status]:
        MOVES[step](d)
    assert d.status is status
    return d


@pytest.mark.parametrize("source", list(Status))
@pytest.mark.parametrize("target", list(MOVES))
def test_transition(source, target):
    d = distribution_in(source)
    pending_before = len(d.collect_events())
    d = distribution_in(source)
    if target in SPEC[source]:
        MOVES[target](d)
        assert d.status is target
        assert len(d.collect_events()) == pending_before + 1
    else:
        with pytest.raises(IllegalTransition):
            MOVES[target](d)
        assert d.status is source
        assert len(d.collect_events()) == pending_before  # nothing recorded


def test_the_creator_cannot_approve_their_own_distribution():
    d = distribution_in(S.CREATED)
    with pytest.raises(MakerCheckerViolation):
        d.approve("maker")
    assert d.status is S.CREATED and len(d.collect_events()) == 1


def test_completion_must_account_for_every_eligible_holder():
    d = distribution_in(S.EXECUTING)
    with pytest.raises(IllegalTransition):
        d.complete(paid=1, failed=0, amount_paid=45)  # one holder unaccounted for
    with pytest.raises(IllegalTransition):
        d.complete(paid=2, failed=0, amount_paid=91)  # more than the committed net


def test_funds_wait_only_when_short_and_deadline_after_record_date():
    d = distribution_in(S.COMMITTED)
    with pytest.raises(InvalidInput):
        d.await_funds(needed=90, available=90)
    d = distribution_in(S.SNAPSHOTTED)
    with pytest.raises(InvalidInput):
        d.commit(tx_hash="0x1", claim_deadline=RECORD, actor="approver")
