"""Pure rules of scheduling and retrying: calendar arithmetic, failure classes, backoff."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.errors import InvalidInput
from domain.failures import FailureClass, RetryPolicy, classify, is_short_of_funds
from domain.recurrence import add_months, due_until, is_exhausted, occurrence_at, occurrences
from domain.terms import Execution, ExecutionKind, Recurrence

pytestmark = pytest.mark.scheduling
T0 = datetime(2027, 1, 1, tzinfo=UTC)


def recurring(recurrence: Recurrence, start: datetime = T0, **bounds: object) -> Execution:
    return Execution(ExecutionKind.RECURRING, recurrence=recurrence, start=start,
                     **bounds)  # type: ignore[arg-type]


def test_monthly_from_jan_31_clamps_to_the_end_of_february_and_does_not_drift():
    start = datetime(2027, 1, 31, 9, 30, tzinfo=UTC)
    dates = [at for _, at in occurrences(recurring(Recurrence.MONTHLY, start, count=4))]
    assert dates == [start, datetime(2027, 2, 28, 9, 30, tzinfo=UTC),
                     datetime(2027, 3, 31, 9, 30, tzinfo=UTC),
                     datetime(2027, 4, 30, 9, 30, tzinfo=UTC)]
    leap = datetime(2028, 1, 31, tzinfo=UTC)
    assert occurrence_at(Recurrence.MONTHLY, leap, 1) == datetime(2028, 2, 29, tzinfo=UTC)
    assert add_months(datetime(2027, 12, 31, tzinfo=UTC), 2) == datetime(2028, 2, 29, tzinfo=UTC)


def test_an_hourly_schedule_over_three_days_has_exactly_72_occurrences():
    cadence = recurring(Recurrence.HOURLY, end=T0 + timedelta(days=3))
    found = list(occurrences(cadence))
    assert len(found) == 72
    assert found[0] == (0, T0) and found[-1] == (71, T0 + timedelta(hours=71))
    assert is_exhausted(cadence, 72) and not is_exhausted(cadence, 71)


@pytest.mark.parametrize(("recurrence", "step"), [
    (Recurrence.HOURLY, timedelta(hours=1)), (Recurrence.DAILY, timedelta(days=1)),
    (Recurrence.WEEKLY, timedelta(weeks=1))])
def test_fixed_recurrences_step_evenly_and_count_bounds_them(recurrence, step):
    found = list(occurrences(recurring(recurrence, count=5)))
    assert [at for _, at in found] == [T0 + step * n for n in range(5)]


def test_due_until_returns_what_is_due_from_the_next_number_on():
    cadence = recurring(Recurrence.HOURLY, count=10)
    assert due_until(cadence, 3, T0 + timedelta(hours=5, minutes=59)) == [
        (3, T0 + timedelta(hours=3)), (4, T0 + timedelta(hours=4)),
        (5, T0 + timedelta(hours=5))]
    assert due_until(cadence, 0, T0 - timedelta(seconds=1)) == []


@pytest.mark.parametrize(("reason", "expected"), [
    ("AccountBlocked('0x00000000000000000000000000000000000000aa')", FailureClass.HOLDER),
    ("TokenNotAssociated()", FailureClass.HOLDER),
    ("ERC20InsufficientBalance('0xab', 1, 5)", FailureClass.DISTRIBUTION),
    ("InsufficientBalance('0xab', 0, 12286773)", FailureClass.DISTRIBUTION),
    ("EnforcedPause()", FailureClass.DISTRIBUTION),
    ("RPC failed: connection refused", FailureClass.TRANSIENT),
    ("broadcast failed: nonce too low", FailureClass.TRANSIENT),
    ("replacement transaction underpriced", FailureClass.TRANSIENT),
    ("something nobody has seen", FailureClass.HOLDER),
])
def test_failure_reasons_are_classified(reason, expected):
    assert classify(reason) is expected


def test_only_funds_errors_count_as_short_of_funds():
    assert is_short_of_funds("ERC20InsufficientBalance('0xab', 1, 5)")
    assert not is_short_of_funds("EnforcedPause()")
    assert not is_short_of_funds("AccountBlocked('0xab')")


def test_backoff_doubles_within_jitter_bounds_and_stops_after_max_attempts():
    policy = RetryPolicy(max_attempts=4, base_seconds=2, factor=2, cap_seconds=5)
    assert [policy.delay(k, 0.0) for k in (1, 2, 3)] == [1.0, 2.0, 2.5]  # half the ceiling
    assert policy.delay(1, 0.999) == pytest.approx(1.999)  # just under the ceiling
    assert policy.delay(4, 0.5) is None  # the 4th failure was the last attempt
    default = RetryPolicy()
    assert default.max_attempts == 3
    assert default.delay(3, 0.0) is None


def test_a_backoff_that_is_not_one_is_refused():
    with pytest.raises(InvalidInput):
        RetryPolicy(max_attempts=0)
    with pytest.raises(InvalidInput):
        RetryPolicy(base_seconds=10, cap_seconds=1)
    with pytest.raises(InvalidInput):
        RetryPolicy().delay(1, 1.0)
