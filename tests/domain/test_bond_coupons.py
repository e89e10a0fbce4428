"""A bond's terms on its Asset, and coupons paid by rate: units * nominal * rate * day-count
fraction of the coupon period, floored per holder, dust recorded, and the bond's schedule."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from domain.accounts import checksum
from domain.asset import Asset, BondTerms
from domain.daycount import DayCount
from domain.entitlements import EntitlementCalculator, Snapshot, Tally
from domain.errors import IdempotencyConflict, InvalidInput, InvalidRate, InvalidTerms
from domain.recurrence import occurrences
from domain.schedule import MissedPolicy, Occurrence, Schedule, occurrence_terms
from domain.terms import (
    Accrual,
    DistributionKind,
    DistributionTerms,
    Execution,
    ExecutionKind,
    Recurrence,
    Rule,
    RuleKind,
    Withholding,
    coupon_rate,
)
from tests.ledger import helpers

DECIMALS = 2  # the bond token's decimals: 100 smallest units a bond
NOMINAL = 100_000_000  # 100 USD (6 decimals) per whole bond
A, B, C = (checksum(bytes([i]) * 20) for i in (1, 2, 3))

# Issued 15 Aug 2026, maturing 15 Jul 2028, 5 % semi-annual ACT/ACT (ICMA): the regular
# dates roll back from maturity (15 Jan / 15 Jul), so the first period is short. LONG pays
# its first coupon on 15 Jul 2027: a long first period, as in ISDA's 1998 example.
BOND = BondTerms(nominal_value=NOMINAL, maturity_date=date(2028, 7, 15),
                 issue_date=date(2026, 8, 15), coupon_rate=coupon_rate("0.05"),
                 coupon_months=6, day_count=DayCount.ACT_ACT_ICMA)
LONG = replace(BOND, first_coupon_date=date(2027, 7, 15))


def imported_bond() -> Asset:
    return Asset.import_token(chain_id=31337, token_address="0x" + "aa" * 20, name="Acme Bond",
                              symbol="ACB", decimals_=DECIMALS, kind="BOND",
                              payment_token="0x" + "bb" * 20, payment_decimals=6,
                              vault_address=None, actor="importer")


def coupon_terms(rule: Rule, **extra: object) -> DistributionTerms:
    return DistributionTerms(DistributionKind.COUPON, rule, datetime(2027, 7, 10, tzinfo=UTC),
                             **extra)  # type: ignore[arg-type]


def entitlements(terms: DistributionTerms, rows: list[tuple[str, int]]):
    calc = EntitlementCalculator(terms, Snapshot.from_chunks([rows], DECIMALS), DECIMALS)
    tally = Tally()
    found = []
    for e in calc:
        tally.add(e)
        found.append(e)
    return found, tally.totals(calc.pool)


# --- the bond's terms ---

def test_coupon_dates_roll_back_from_maturity_and_the_first_period_runs_from_issue():
    assert BOND.coupon_dates() == [date(2027, 1, 15), date(2027, 7, 15), date(2028, 1, 15),
                                   date(2028, 7, 15)]
    assert BOND.coupon_period(1) == (date(2026, 8, 15), date(2027, 1, 15))  # short first
    assert BOND.coupon_period(4) == (date(2028, 1, 15), date(2028, 7, 15))
    # Short: 153 days of the 184 in the notional period [15 Jul 2026, 15 Jan 2027).
    assert BOND.accrual(*BOND.coupon_period(1)).fraction == Fraction(153, 368)
    assert BOND.accrual(*BOND.coupon_period(2)).fraction == Fraction(1, 2)
    with pytest.raises(InvalidTerms, match=r"coupons 1\.\.4"):
        BOND.coupon_period(5)
    # Long: prorated over its two notional periods by the ICMA rule, 153/368 + 181/362.
    assert LONG.coupon_dates() == [date(2027, 7, 15), date(2028, 1, 15), date(2028, 7, 15)]
    assert LONG.coupon_period(1) == (date(2026, 8, 15), date(2027, 7, 15))
    assert LONG.accrual(*LONG.coupon_period(1)).fraction == Fraction(153, 368) + Fraction(1, 2)


def test_from_a_first_coupon_date_the_dates_roll_forward_and_the_last_period_may_be_short():
    bond = replace(BOND, first_coupon_date=date(2027, 1, 31), maturity_date=date(2028, 5, 15),
                   coupon_months=3, day_count=DayCount.THIRTY_360_US, end_of_month=True)
    assert bond.coupon_dates() == [date(2027, 1, 31), date(2027, 4, 30), date(2027, 7, 31),
                                   date(2027, 10, 31), date(2028, 1, 31), date(2028, 4, 30),
                                   date(2028, 5, 15)]
    assert bond.coupon_period(7) == (date(2028, 4, 30), date(2028, 5, 15))


@pytest.mark.parametrize(("change", "error", "message"), [
    ({"coupon_rate": Fraction(101, 100)}, InvalidRate, "100 %"),
    ({"coupon_rate": Fraction(0)}, InvalidRate, "100 %"),
    ({"day_count": "ACT/ACT"}, InvalidTerms, "day count 'ACT/ACT'"),
    ({"coupon_months": 5}, InvalidTerms, "months"),
    ({"issue_date": date(2028, 7, 15)}, InvalidTerms, "matures"),
    ({"issue_date": None}, InvalidTerms, "all four"),
    ({"nominal_value": 0}, InvalidInput, "nominal"),
    ({"first_coupon_date": date(2029, 1, 1)}, InvalidTerms, "first coupon"),
])
def test_bad_bond_terms_are_refused(change, error, message):
    with pytest.raises(error, match=message):
        replace(BOND, **change)


def test_a_rate_is_exact_from_a_decimal_or_basis_points_and_at_most_100_percent():
    assert coupon_rate("0.04125") == Fraction(4125, 100_000)
    assert coupon_rate(412) == Fraction(412, 10_000)
    for bad in ("1.0001", "-0.01", "abc", True, 0):
        with pytest.raises(InvalidRate):
            coupon_rate(bad)


def test_the_asset_keeps_its_bond_terms_and_records_a_change_as_an_event():
    asset = imported_bond()
    assert asset.bond_terms is None  # every asset imported before bonds had terms
    read = BondTerms(NOMINAL, date(2028, 7, 15))
    assert asset.update_bond_terms(read, actor="importer", reason="read from the token",
                                   now=datetime(2026, 8, 1, tzinfo=UTC))
    assert not asset.update_bond_terms(read, actor="importer", reason="read again")
    assert asset.update_bond_terms(BOND, actor="treasury", reason="coupon terms")
    events = [e for e in asset.collect_events() if isinstance(e, Asset.BondTermsUpdated)]
    assert [e.reason for e in events] == ["read from the token", "coupon terms"]
    assert asset.bond_terms == BOND
    # A maturity already past cannot be imported.
    with pytest.raises(InvalidTerms, match="matured on 2028-07-15"):
        imported_bond().update_bond_terms(read, actor="importer", reason="import",
                                          now=datetime(2028, 7, 15, tzinfo=UTC))


def test_an_equity_has_no_bond_terms():
    equity = Asset.import_token(chain_id=31337, token_address="0x" + "cc" * 20, name="Eq",
                                symbol="EQ", decimals_=0, kind="EQUITY",
                                payment_token="0x" + "bb" * 20, payment_decimals=6,
                                vault_address=None, actor="importer")
    with pytest.raises(InvalidInput, match="not a BOND"):
        equity.update_bond_terms(BOND, actor="treasury", reason="x")


# --- coupons by rate ---

def test_a_coupon_by_rate_pays_units_times_nominal_times_rate_times_the_fraction():
    # Coupon 2, a regular half year: 5 % / 2 of the nominal per bond.
    rows = [(A, 1_000), (B, 250), (C, 1)]  # 10 bonds, 2.5 bonds and 0.01 of a bond
    found, totals = entitlements(coupon_terms(BOND.coupon_rule(2)), rows)
    per_bond = NOMINAL * Fraction(5, 100) / 2  # 2,500,000
    assert [e.gross for e in found] == [int(10 * per_bond), int(Fraction(5, 2) * per_bond),
                                        int(per_bond / 100)]
    assert totals.gross == sum(e.gross for e in found) and totals.dust == 0


def test_the_long_first_coupon_is_prorated_and_the_floors_leave_dust():
    rule = LONG.coupon_rule(1)  # 5 % * (153/368 + 1/2) of the nominal per bond
    rows = [(A, 3), (B, 7), (C, 11)]
    found, totals = entitlements(coupon_terms(rule, withholding=Withholding(1_500)), rows)
    earns = Fraction(NOMINAL, 10**DECIMALS) * Fraction(5, 100) * (Fraction(153, 368)
                                                                   + Fraction(1, 2))
    assert [e.gross for e in found] == [int(3 * earns), int(7 * earns), int(11 * earns)]
    assert totals.gross == int(21 * earns)
    assert totals.dust == int(21 * earns) - sum(int(n * earns) for n in (3, 7, 11))
    assert totals.net + totals.withheld + totals.dust + totals.skipped_amount == totals.gross


def test_a_rate_rule_needs_its_accrual_and_no_other_rule_takes_one():
    with pytest.raises(InvalidTerms, match="RATE rule needs"):
        Rule(RuleKind.RATE, NOMINAL)
    with pytest.raises(InvalidTerms, match="RATE rule needs"):
        Rule(RuleKind.PER_UNIT, 5, BOND.accrual(date(2027, 1, 15), date(2027, 7, 15)))
    with pytest.raises(InvalidTerms, match="ends"):
        BOND.accrual(date(2027, 7, 15), date(2027, 7, 15))


units = st.integers(0, 10**12)
holders = st.lists(units, min_size=1, max_size=30)


@st.composite
def rate_terms(draw, days: int | None = None):
    start = draw(st.dates(date(2000, 1, 1), date(2080, 1, 1)))
    accrual = Accrual(rate=Fraction(draw(st.integers(1, 10**6)), 10**6),
                      day_count=draw(st.sampled_from(list(DayCount))), start=start,
                      end=start + timedelta(days=days or draw(st.integers(1, 800))),
                      months=draw(st.sampled_from([3, 6, 12])), anchor=start)
    return coupon_terms(Rule(RuleKind.RATE, draw(st.integers(1, 10**9)), accrual),
                        withholding=Withholding(draw(st.integers(0, 10_000))))


@settings(max_examples=300, deadline=None)
@given(terms=rate_terms(), balances=holders)
def test_conservation_net_plus_withheld_plus_dust_is_the_gross(terms, balances):
    rows = [(checksum(i.to_bytes(20, "big")), b) for i, b in enumerate(balances, 1)]
    try:
        found, totals = entitlements(terms, rows)
    except InvalidInput:
        return  # nothing eligible, or a pool of 0: refused, nothing recorded
    net = sum(e.net for e in found)
    withheld = sum(e.withheld for e in found)
    skipped = sum(e.skipped_amount for e in found)
    assert net + withheld + totals.dust + skipped == totals.gross
    assert 0 <= totals.dust < len(found)


@settings(max_examples=300, deadline=None)
@given(terms=rate_terms(), a=units, b=units)
def test_gross_grows_with_units(terms, a, b):
    low, high = sorted((a, b))
    rows = [(A, low), (B, high), (C, 10**6)]
    try:
        found, _ = entitlements(terms, rows)
    except InvalidInput:
        assume(False)  # a pool of 0: refused, as for every rule
    assert found[0].gross <= found[1].gross


@settings(max_examples=300, deadline=None)
@given(terms=rate_terms(), more=st.integers(0, 400), balance=st.integers(1, 10**12))
def test_gross_grows_with_days(terms, more, balance):
    accrual = terms.rule.accrual
    longer = replace(terms, rule=replace(terms.rule, accrual=replace(
        accrual, end=accrual.end + timedelta(days=more))))
    rows = [(A, balance), (B, 10**12)]
    try:
        shorter_gross = entitlements(terms, rows)[0][0].gross
    except InvalidInput:
        assume(False)  # a pool of 0: refused, as for every rule
    assert shorter_gross <= entitlements(longer, rows)[0][0].gross


# --- the bond's coupon schedule ---

def test_one_schedule_has_the_coupon_dates_as_its_occurrences_until_maturity():
    cadence = BOND.coupon_cadence()
    assert (cadence.recurrence, cadence.count) == (Recurrence.SEMI_ANNUAL, 4)
    assert [due.date() for _, due in occurrences(cadence)] == BOND.coupon_dates()
    # A month-end bond keeps month ends: 28 Feb → 31 Aug → 28 Feb → 31 Aug (maturity).
    month_end = replace(BOND, issue_date=date(2027, 1, 5), maturity_date=date(2028, 8, 31))
    assert month_end.coupon_dates() == [date(2027, 2, 28), date(2027, 8, 31),
                                        date(2028, 2, 29), date(2028, 8, 31)]
    assert [due.date() for _, due in occurrences(month_end.coupon_cadence())] == \
        month_end.coupon_dates()
    # A short last period is not one cadence: that coupon is defined by hand.
    stub = replace(BOND, first_coupon_date=date(2027, 1, 15), maturity_date=date(2028, 5, 1))
    with pytest.raises(InvalidTerms, match="irregular last period"):
        stub.coupon_cadence()


def test_each_occurrence_of_a_bonds_schedule_accrues_its_own_period():
    cadence = BOND.coupon_cadence()
    template = DistributionTerms(DistributionKind.COUPON, BOND.coupon_rule(1),
                                 cadence.start, cadence)  # type: ignore[arg-type]
    schedule = Schedule.define(asset_id=imported_bond().id, key="coupons", terms=template,
                               missed_policy=MissedPolicy.RUN_ALL,
                               misfire_grace=timedelta(minutes=1), actor="treasury")
    periods = []
    for number, due in occurrences(cadence):
        accrual = occurrence_terms(schedule, Occurrence(number, due)).rule.accrual
        assert accrual is not None
        periods.append((accrual.start, accrual.end))
    assert periods == [BOND.coupon_period(n) for n in (1, 2, 3, 4)]
    # A template that does not accrue the first period is refused.
    wrong = replace(template, rule=BOND.coupon_rule(2))
    with pytest.raises(InvalidTerms, match="first coupon period"):
        Schedule.define(asset_id=schedule.asset_id, key="x", terms=wrong,
                        missed_policy=MissedPolicy.RUN_ALL, misfire_grace=timedelta(0),
                        actor="treasury")
    manual = replace(template, execution=Execution(ExecutionKind.MANUAL))
    with pytest.raises(InvalidTerms):
        Schedule.define(asset_id=schedule.asset_id, key="y", terms=manual,
                        missed_policy=MissedPolicy.RUN_ALL, misfire_grace=timedelta(0),
                        actor="treasury")


# --- through the ledger: stored events load back ---

def test_bond_terms_and_a_rate_coupon_survive_the_ledger(ledger, reopen):
    asset_id = ledger.import_asset(chain_id=31337, token_address="0x" + "aa" * 20,
                                   name="Acme Bond", symbol="ACB", decimals=DECIMALS,
                                   kind="BOND", payment_token=helpers.USD, payment_decimals=6,
                                   vault_address=None, actor="importer")
    assert ledger.get_asset(asset_id).bond_terms is None
    assert ledger.update_bond_terms(asset_id, BOND, actor="treasury", reason="terms") > 0
    assert ledger.update_bond_terms(asset_id, BOND, actor="treasury", reason="again") == 0
    terms = coupon_terms(BOND.coupon_rule(1))
    distribution_id = ledger.create_distribution(asset_id=asset_id, idempotency_key="c1",
                                                 terms=terms, actor="treasury")
    other = reopen()
    assert other.get_asset(asset_id).bond_terms == BOND
    assert other.get_distribution(distribution_id).terms == terms
    # The same key and the same terms: the same distribution; another period: a conflict.
    assert ledger.create_distribution(asset_id=asset_id, idempotency_key="c1", terms=terms,
                                      actor="treasury") == distribution_id
    with pytest.raises(IdempotencyConflict):
        ledger.create_distribution(asset_id=asset_id, idempotency_key="c1",
                                   terms=coupon_terms(BOND.coupon_rule(2)), actor="treasury")


def test_an_asset_stored_before_bond_terms_existed_still_loads(ledger, reopen):
    asset_id = helpers.import_asset(ledger)
    assert reopen().get_asset(asset_id).bond_terms is None


def test_a_bonds_coupon_schedule_spawns_one_distribution_per_coupon_each_on_its_period(
        ledger, reopen):
    asset_id = ledger.import_asset(chain_id=31337, token_address="0x" + "ab" * 20,
                                   name="Acme Bond", symbol="ACB", decimals=DECIMALS,
                                   kind="BOND", payment_token=helpers.USD, payment_decimals=6,
                                   vault_address=None, actor="importer")
    ledger.update_bond_terms(asset_id, LONG, actor="treasury", reason="coupon terms")
    cadence = LONG.coupon_cadence()
    schedule_id = ledger.define_schedule(
        asset_id=asset_id, key="coupons", missed_policy=MissedPolicy.RUN_ALL,
        misfire_grace=timedelta(days=1), actor="treasury",
        terms=DistributionTerms(DistributionKind.COUPON, LONG.coupon_rule(1), cadence.start,
                                cadence))  # type: ignore[arg-type]
    ledger.approve_schedule(schedule_id, "checker")
    spawned = ledger.fire_schedule(schedule_id, datetime(2028, 7, 15, 1, tzinfo=UTC))
    assert len(spawned) == 3
    other = reopen()
    accruals = [other.get_distribution(d).terms.rule.accrual for d in spawned]
    assert [(a.start, a.end) for a in accruals if a] == [LONG.coupon_period(n)
                                                         for n in (1, 2, 3)]
    assert [a.fraction for a in accruals if a] == [Fraction(153, 368) + Fraction(1, 2),
                                                   Fraction(1, 2), Fraction(1, 2)]
