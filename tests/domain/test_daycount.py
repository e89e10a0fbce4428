"""Day-count fractions: known answers from published tables, and properties."""

from __future__ import annotations

from datetime import date, timedelta
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.daycount import DayCount, day_count, days_30_360, roll, year_fraction
from domain.errors import InvalidInput, InvalidTerms

# ISDA, "30/360 Day Count Conventions" (2008-12-22, the workbook "30-360-2006ISDADefs" at
# https://www.isda.org/2008/12/22/30-360-day-count-conventions/), sheet "30-360 Bond Basis"
# (2006 ISDA Definitions §4.16(f)): start, end, day count. Examples 1, 2 and 3 as published.
ISDA_BOND_BASIS = [
    # Example 1: end dates do not involve the last day of February
    (date(2006, 8, 20), date(2007, 2, 20), 180),
    (date(2007, 2, 20), date(2007, 8, 20), 180),
    (date(2007, 8, 20), date(2008, 2, 20), 180),
    (date(2008, 2, 20), date(2008, 8, 20), 180),
    (date(2008, 8, 20), date(2009, 2, 20), 180),
    (date(2009, 2, 20), date(2009, 8, 20), 180),
    # Example 2: end dates include some end-February dates
    (date(2006, 8, 31), date(2007, 2, 28), 178),
    (date(2007, 2, 28), date(2007, 8, 31), 183),
    (date(2007, 8, 31), date(2008, 2, 29), 179),
    (date(2008, 2, 29), date(2008, 8, 31), 182),
    (date(2008, 8, 31), date(2009, 2, 28), 178),
    (date(2009, 2, 28), date(2009, 8, 31), 183),
    # Example 3: miscellaneous calculations
    (date(2006, 1, 31), date(2006, 2, 28), 28),
    (date(2006, 1, 30), date(2006, 2, 28), 28),
    (date(2006, 2, 28), date(2006, 3, 3), 5),
    (date(2006, 2, 14), date(2006, 2, 28), 14),
    (date(2006, 9, 30), date(2006, 10, 31), 30),
    (date(2006, 10, 31), date(2006, 11, 28), 28),
    (date(2007, 8, 31), date(2008, 2, 28), 178),
    (date(2008, 2, 28), date(2008, 8, 28), 180),
    (date(2008, 2, 28), date(2008, 8, 30), 182),
    (date(2008, 2, 28), date(2008, 8, 31), 183),
    (date(2007, 2, 26), date(2008, 2, 28), 362),
    (date(2007, 2, 26), date(2008, 2, 29), 363),
    (date(2008, 2, 29), date(2009, 2, 28), 359),
    (date(2008, 2, 28), date(2008, 3, 30), 32),
    (date(2008, 2, 28), date(2008, 3, 31), 33),
]


@pytest.mark.parametrize(("start", "end", "days"), ISDA_BOND_BASIS)
def test_30_360_bond_basis_matches_isdas_published_examples(start, end, days):
    """ISDA's 2008 "30/360 Day Count Conventions" examples (2006 Definitions §4.16(f))."""
    assert days_30_360(start, end, us=False) == days
    assert year_fraction(DayCount.THIRTY_360_BOND_BASIS, start, end) == Fraction(days, 360)


def _starts_on_last_of_february(start: date) -> bool:
    return start.month == 2 and (start + timedelta(days=1)).month == 3


@pytest.mark.parametrize(("start", "end", "days"), [
    row for row in ISDA_BOND_BASIS if not _starts_on_last_of_february(row[0])])
def test_30_360_us_agrees_with_bond_basis_unless_a_period_starts_at_february_end(start, end,
                                                                                 days):
    """Same ISDA table: the US rules differ from Bond Basis only for a start on the last day
    of February, so every other published row holds for 30/360 US as well."""
    assert year_fraction(DayCount.THIRTY_360_US, start, end) == Fraction(days, 360)


@pytest.mark.parametrize(("start", "end", "days"), [
    # The SIA end-of-February rules (D1 on Feb's last day → 30; D2 too when both are),
    # applied to ISDA's rows that start on the last day of February.
    (date(2007, 2, 28), date(2007, 8, 31), 180),  # Bond Basis: 183
    (date(2008, 2, 29), date(2008, 8, 31), 180),  # Bond Basis: 182
    (date(2009, 2, 28), date(2009, 8, 31), 180),  # Bond Basis: 183
    (date(2006, 2, 28), date(2006, 3, 3), 3),  # Bond Basis: 5
    (date(2008, 2, 29), date(2009, 2, 28), 360),  # Bond Basis: 359 (both at Feb's end)
    (date(2008, 2, 28), date(2008, 8, 31), 183),  # Feb 28 2008 is not February's end
])
def test_30_360_us_end_of_february_rules(start, end, days):
    assert days_30_360(start, end, us=True) == days


# ISDA, "EMU and Market Conventions: Recent Developments" (1998, mktc1198), §4 "Actual/Actual":
# the worked examples of the ISMA (now ICMA) method. start, end, period months, a regular
# coupon date the notional periods roll from, the published fraction.
ISDA_ICMA_EXAMPLES = [
    # regular semi-annual period: 182 / (2 * 182)
    (date(2003, 11, 1), date(2004, 5, 1), 6, date(2004, 5, 1), Fraction(1, 2)),
    # short first period, annual; notional period 1 Jul 1998 - 1 Jul 1999: 150 / 365
    (date(1999, 2, 1), date(1999, 7, 1), 12, date(1999, 7, 1), Fraction(150, 365)),
    (date(1999, 7, 1), date(2000, 7, 1), 12, date(2000, 7, 1), Fraction(1)),
    # long first period, semi-annual, regular dates 15 Jan / 15 Jul:
    # 153 / (2 * 184) + 181 / (2 * 181) = 0.915760869565…
    (date(2002, 8, 15), date(2003, 7, 15), 6, date(2003, 7, 15),
     Fraction(153, 368) + Fraction(1, 2)),
    (date(2003, 7, 15), date(2004, 1, 15), 6, date(2004, 1, 15), Fraction(1, 2)),
    # short final period, semi-annual: penultimate regular, then 152 / (2 * 182)
    (date(1999, 7, 30), date(2000, 1, 30), 6, date(2000, 1, 30), Fraction(1, 2)),
    (date(2000, 1, 30), date(2000, 6, 30), 6, date(2000, 1, 30), Fraction(152, 364)),
]


@pytest.mark.parametrize(("start", "end", "months", "anchor", "expected"), ISDA_ICMA_EXAMPLES)
def test_act_act_icma_matches_isdas_published_examples(start, end, months, anchor, expected):
    """ISDA's 1998 "EMU and Market Conventions" Actual/Actual (ISMA) examples, exactly:
    0.5, 0.410958904110, 1.0, 0.915760869565, 0.5, 0.5, 0.417582417582 as published."""
    fraction = year_fraction(DayCount.ACT_ACT_ICMA, start, end, months=months, anchor=anchor)
    assert fraction == expected
    published = {Fraction(150, 365): 0.410958904110, Fraction(153, 368) + Fraction(1, 2):
                 0.915760869565, Fraction(152, 364): 0.417582417582}
    if expected in published:
        assert round(float(fraction), 12) == published[expected]


def test_act_360_and_act_365f():
    # 2006 ISDA Definitions §4.16(d), (e): actual days over 365 or 360.
    assert year_fraction(DayCount.ACT_365F, date(2023, 1, 1), date(2024, 1, 1)) == 1
    assert year_fraction(DayCount.ACT_365F, date(2024, 1, 1), date(2025, 1, 1)) \
        == Fraction(366, 365)
    assert year_fraction(DayCount.ACT_360, date(2024, 1, 1), date(2024, 7, 1)) \
        == Fraction(182, 360)


def test_bad_input_is_refused():
    with pytest.raises(InvalidInput, match="before it starts"):
        year_fraction(DayCount.ACT_360, date(2024, 2, 1), date(2024, 1, 1))
    with pytest.raises(InvalidTerms, match="ACT/ACT"):
        year_fraction(DayCount.ACT_ACT_ICMA, date(2024, 1, 1), date(2024, 7, 1))
    with pytest.raises(InvalidTerms, match="day count 'ACT/ACT'"):
        day_count("ACT/ACT")


def test_the_end_of_month_rule_rolls_to_every_months_last_day():
    assert roll(date(2024, 2, 29), 6) == date(2024, 8, 29)
    assert roll(date(2024, 2, 29), 6, end_of_month=True) == date(2024, 8, 31)
    assert roll(date(2024, 8, 31), 6) == date(2025, 2, 28)
    assert roll(date(2024, 8, 30), 6, end_of_month=True) == date(2025, 2, 28)


days = st.dates(min_value=date(1990, 1, 1), max_value=date(2090, 12, 31))
ACTUAL = [DayCount.ACT_360, DayCount.ACT_365F]


@given(start=days, a=st.integers(0, 4000), b=st.integers(0, 4000),
       convention=st.sampled_from(ACTUAL))
def test_actual_conventions_are_additive(start, a, b, convention):
    middle, end = start + timedelta(days=a), start + timedelta(days=a + b)
    assert year_fraction(convention, start, end) == \
        year_fraction(convention, start, middle) + year_fraction(convention, middle, end)


@given(start=days, a=st.integers(0, 4000), b=st.integers(0, 4000),
       months=st.sampled_from([1, 3, 6, 12]), anchor=days)
def test_icma_is_additive_over_one_schedule(start, a, b, months, anchor):
    """With one set of notional periods (one anchor), splitting a period anywhere adds up."""
    middle, end = start + timedelta(days=a), start + timedelta(days=a + b)

    def f(x: date, y: date) -> Fraction:
        return year_fraction(DayCount.ACT_ACT_ICMA, x, y, months=months, anchor=anchor)

    assert f(start, end) == f(start, middle) + f(middle, end)


@given(start=days, a=st.integers(0, 4000), b=st.integers(0, 40),
       convention=st.sampled_from(list(DayCount)))
def test_fractions_grow_with_days(start, a, b, convention):
    """More days never accrue less; 30/360 may stand still across a 31st, never go back."""
    extra = {"months": 6} if convention is DayCount.ACT_ACT_ICMA else {}
    shorter = year_fraction(convention, start, start + timedelta(days=a), **extra,
                            anchor=start)
    longer = year_fraction(convention, start, start + timedelta(days=a + b), **extra,
                           anchor=start)
    assert longer >= shorter >= 0


@given(start=days)
def test_act_365f_of_365_days_is_one_year(start):
    assert year_fraction(DayCount.ACT_365F, start, start + timedelta(days=365)) == 1
    assert year_fraction(DayCount.ACT_360, start, start + timedelta(days=360)) == 1


@given(start=days, months=st.sampled_from([1, 2, 3, 4, 6, 12]))
def test_a_regular_icma_period_is_exactly_one_over_the_frequency(start, months):
    end = roll(start, months)
    assert year_fraction(DayCount.ACT_ACT_ICMA, start, end, months=months) \
        == Fraction(months, 12)
