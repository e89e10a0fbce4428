"""Bond cadences: quarterly, semi-annual, annual and every N months, with end-of-month rules."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import InvalidTerms
from domain.recurrence import add_months, due_at, occurrence_at, occurrences
from domain.terms import Execution, ExecutionKind, Recurrence
from domain.transcodings import DistributionTermsAsDict

pytestmark = pytest.mark.scheduling


def at(y: int, m: int, d: int) -> datetime:
    return datetime(y, m, d, 12, tzinfo=UTC)


def cadence(recurrence: Recurrence, start: datetime, **extra: object) -> Execution:
    if "end" not in extra:
        extra.setdefault("count", 8)
    return Execution(ExecutionKind.RECURRING, recurrence=recurrence, start=start,
                     **extra)  # type: ignore[arg-type]


def dates(execution: Execution) -> list[datetime]:
    return [due for _, due in occurrences(execution)]


def test_quarterly_semi_annual_and_annual_step_3_6_and_12_months_from_the_start():
    start = at(2027, 1, 15)
    assert dates(cadence(Recurrence.QUARTERLY, start, count=4)) == [
        at(2027, 1, 15), at(2027, 4, 15), at(2027, 7, 15), at(2027, 10, 15)]
    assert dates(cadence(Recurrence.SEMI_ANNUAL, start, count=3)) == [
        at(2027, 1, 15), at(2027, 7, 15), at(2028, 1, 15)]
    assert dates(cadence(Recurrence.ANNUAL, start, end=at(2030, 1, 15))) == [
        at(2027, 1, 15), at(2028, 1, 15), at(2029, 1, 15)]


def test_every_n_months_is_monthly_with_an_interval():
    start = at(2027, 1, 10)
    assert dates(cadence(Recurrence.MONTHLY, start, count=3, interval=2)) == [
        at(2027, 1, 10), at(2027, 3, 10), at(2027, 5, 10)]
    # An interval multiplies any step: QUARTERLY every 2 is every 6 months.
    assert dates(cadence(Recurrence.QUARTERLY, start, count=2, interval=2)) == [
        at(2027, 1, 10), at(2027, 7, 10)]


def test_without_the_end_of_month_rule_a_31st_clamps_and_does_not_drift():
    start = at(2027, 8, 31)
    assert dates(cadence(Recurrence.SEMI_ANNUAL, start, count=3)) == [
        at(2027, 8, 31), at(2028, 2, 29), at(2028, 8, 31)]
    assert dates(cadence(Recurrence.QUARTERLY, start, count=3)) == [
        at(2027, 8, 31), at(2027, 11, 30), at(2028, 2, 29)]


def test_with_the_end_of_month_rule_a_month_end_start_stays_on_month_ends():
    feb = at(2027, 2, 28)
    assert dates(cadence(Recurrence.QUARTERLY, feb, count=4)) == [
        at(2027, 2, 28), at(2027, 5, 28), at(2027, 8, 28), at(2027, 11, 28)]
    assert dates(cadence(Recurrence.QUARTERLY, feb, count=4, end_of_month=True)) == [
        at(2027, 2, 28), at(2027, 5, 31), at(2027, 8, 31), at(2027, 11, 30)]
    # A start that is not a month's last day is unaffected by the rule.
    mid = at(2027, 2, 27)
    assert dates(cadence(Recurrence.QUARTERLY, mid, count=3, end_of_month=True)) \
        == dates(cadence(Recurrence.QUARTERLY, mid, count=3))


def test_monthly_keeps_its_behaviour():
    start = datetime(2027, 1, 31, 9, 30, tzinfo=UTC)
    assert occurrence_at(Recurrence.MONTHLY, start, 1) == datetime(2027, 2, 28, 9, 30,
                                                                   tzinfo=UTC)
    assert occurrence_at(Recurrence.MONTHLY, start, 2) == datetime(2027, 3, 31, 9, 30,
                                                                   tzinfo=UTC)
    assert add_months(datetime(2027, 12, 31, tzinfo=UTC), 2) == datetime(2028, 2, 29,
                                                                        tzinfo=UTC)


months = st.sampled_from([Recurrence.MONTHLY, Recurrence.QUARTERLY, Recurrence.SEMI_ANNUAL,
                          Recurrence.ANNUAL])
starts = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1),
                      timezones=st.just(UTC))


@given(recurrence=months, start=starts, n=st.integers(0, 120), interval=st.integers(1, 4),
       eom=st.booleans())
def test_occurrence_n_is_computed_from_the_start_and_strictly_increases(
        recurrence, start, n, interval, eom):
    execution = cadence(recurrence, start, interval=interval, end_of_month=eom)
    here, there = due_at(execution, n), due_at(execution, n + 1)
    assert there > here
    assert here.time() == start.time()
    # Same as stepping the months in one go: no drift whatever came before.
    assert here == add_months(start, {"MONTHLY": 1, "QUARTERLY": 3, "SEMI_ANNUAL": 6,
                                      "ANNUAL": 12}[recurrence] * interval * n, eom)


@pytest.mark.parametrize(("extra", "message"), [
    ({"interval": 0}, "interval"),
    ({"interval": 1001}, "interval"),
    ({"recurrence": Recurrence.WEEKLY, "end_of_month": True}, "month-based"),
])
def test_bad_cadences_are_refused(extra, message):
    fields: dict[str, object] = {"recurrence": Recurrence.QUARTERLY, **extra}
    with pytest.raises(InvalidTerms, match=message):
        cadence(fields.pop("recurrence"), at(2027, 1, 31), **fields)  # type: ignore[arg-type]
    with pytest.raises(InvalidTerms, match="end_of_month"):
        Execution(ExecutionKind.SCHEDULED, at=at(2027, 1, 1), end_of_month=True)


def test_the_interval_and_rule_survive_the_stored_event_and_old_events_read_as_before():
    from domain.terms import DistributionKind, DistributionTerms, Rule, RuleKind

    terms = DistributionTerms(DistributionKind.COUPON, Rule(RuleKind.PER_UNIT, 5),
                              at(2027, 2, 28),
                              cadence(Recurrence.MONTHLY, at(2027, 2, 28), interval=3,
                                      end_of_month=True))
    codec = DistributionTermsAsDict()
    stored = codec.encode(terms)
    assert codec.decode(stored) == terms
    plain = DistributionTerms(DistributionKind.COUPON, Rule(RuleKind.PER_UNIT, 5),
                              at(2027, 2, 28), cadence(Recurrence.MONTHLY, at(2027, 2, 28)))
    # A cadence without them is written as it always was, so old events decode unchanged.
    assert set(codec.encode(plain)["execution"]) == {"kind", "at", "recurrence", "start",
                                                     "end", "count", "trigger"}
    assert codec.decode(codec.encode(plain)) == plain
