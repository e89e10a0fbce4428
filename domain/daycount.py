"""Day-count conventions: the year fraction a coupon accrues over, as an exact `Fraction`.

A coupon period is half-open, [start, end): interest accrues from `start` up to, not
including, `end`. Fractions are exact (never float), so a coupon is floored once, per holder,
and the rest is dust, as for every other rule.

- ACT_360, ACT_365F: actual days over 360 or 365 (2006 ISDA Definitions §4.16(e), (d)).
- THIRTY_360_BOND_BASIS: 30/360 "Bond Basis" (2006 ISDA Definitions §4.16(f)): D1 = 31 → 30;
  D2 = 31 → 30 when D1 is 30 or 31. No rule for the end of February.
- THIRTY_360_US: 30/360 US (the SIA "Standard Securities Calculation Methods" rules, the US
  market's bond basis): as Bond Basis, plus the end-of-February rules — D1 on the last day of
  February → 30, and D2 on the last day of February → 30 when D1 is too.
- ACT_ACT_ICMA: actual days over (frequency * actual days of the regular period) (ICMA Rule
  251.1(iii), 2006 ISDA Definitions §4.16(c)). An irregular (short or long) period is
  prorated over the notional regular periods it overlaps, which roll from a regular coupon
  date (the `anchor`) in steps of the period's months: Σ days in each ÷ (frequency * its days).
"""

from __future__ import annotations

import calendar
from datetime import date
from enum import StrEnum
from fractions import Fraction

from dateutil.relativedelta import relativedelta

from domain.errors import InvalidInput, InvalidTerms

# Coupon periods a bond may have, in months: 12 / frequency for frequencies 1, 2, 3, 4, 6, 12.
PERIOD_MONTHS = frozenset({1, 2, 3, 4, 6, 12})


class DayCount(StrEnum):
    ACT_360 = "ACT_360"
    ACT_365F = "ACT_365F"
    THIRTY_360_US = "THIRTY_360_US"
    THIRTY_360_BOND_BASIS = "THIRTY_360_BOND_BASIS"
    ACT_ACT_ICMA = "ACT_ACT_ICMA"


def day_count(convention: DayCount | str) -> DayCount:
    """A convention by name; an unknown one is bad input."""
    try:
        return DayCount(convention)
    except ValueError:
        raise InvalidTerms(f"day count {convention!r} is not one of {', '.join(DayCount)}"
                           ) from None


def is_month_end(day: date) -> bool:
    return day.day == calendar.monthrange(day.year, day.month)[1]


def roll(anchor: date, months: int, end_of_month: bool = False) -> date:
    """`anchor` moved by `months`, clamped to a shorter month's last day; with the end-of-month
    rule, an anchor on a month's last day rolls to the last day of every month."""
    moved: date = anchor + relativedelta(months=months)
    if end_of_month and is_month_end(anchor):
        moved = moved + relativedelta(day=31)
    return moved


def days_30_360(start: date, end: date, *, us: bool) -> int:
    d1, d2 = start.day, end.day
    if us and _last_of_february(start):
        if _last_of_february(end):
            d2 = 30
        d1 = 30
    if d2 == 31 and d1 >= 30:
        d2 = 30
    d1 = min(d1, 30)
    return 360 * (end.year - start.year) + 30 * (end.month - start.month) + d2 - d1


def _last_of_february(day: date) -> bool:
    return day.month == 2 and is_month_end(day)


def year_fraction(convention: DayCount, start: date, end: date, *, months: int | None = None,
                  anchor: date | None = None, end_of_month: bool = False) -> Fraction:
    """The year fraction of [start, end) under `convention`.

    ACT_ACT_ICMA needs the regular period's length in `months` and, for an irregular period,
    a regular coupon date `anchor` the notional periods roll from. Without one, a period of
    exactly `months` is regular (1 / frequency) and any other rolls from `end` (right for an
    irregular first period; give the last regular date for an irregular final one).
    """
    if end < start:
        raise InvalidInput(f"a period ends ({end}) before it starts ({start})")
    if convention is DayCount.ACT_360:
        return Fraction((end - start).days, 360)
    if convention is DayCount.ACT_365F:
        return Fraction((end - start).days, 365)
    if convention is DayCount.THIRTY_360_US:
        return Fraction(days_30_360(start, end, us=True), 360)
    if convention is DayCount.THIRTY_360_BOND_BASIS:
        return Fraction(days_30_360(start, end, us=False), 360)
    if months not in PERIOD_MONTHS:
        raise InvalidTerms(f"ACT/ACT (ICMA) needs a coupon period of {sorted(PERIOD_MONTHS)}"
                           f" months, got {months!r}")
    if anchor is None:
        if roll(start, months, end_of_month) == end:
            return Fraction(months, 12)  # a regular period: 1 / frequency
        anchor = end
    return _icma(start, end, months, anchor, end_of_month)


def _icma(start: date, end: date, months: int, anchor: date, end_of_month: bool) -> Fraction:
    frequency = 12 // months
    # The notional period k runs [roll(anchor, k·months), roll(anchor, (k+1)·months)).
    k = ((start.year - anchor.year) * 12 + start.month - anchor.month) // months - 1
    while roll(anchor, (k + 1) * months, end_of_month) <= start:
        k += 1
    while roll(anchor, k * months, end_of_month) > start:
        k -= 1
    total = Fraction(0)
    low = roll(anchor, k * months, end_of_month)
    while low < end:
        high = roll(anchor, (k + 1) * months, end_of_month)
        overlap = (min(high, end) - max(low, start)).days
        total += Fraction(overlap, frequency * (high - low).days)
        k, low = k + 1, high
    return total
