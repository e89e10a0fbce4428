"""Properties of the entitlement math, for every rule, with withholding, exclusions, minimums.

Each property is checked on ≥ 500 generated snapshots per rule; totals are re-derived from
the per-holder records independently of the Tally that produced them.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.accounts import checksum
from domain.daycount import DayCount
from domain.entitlements import EntitlementCalculator, SkipReason, Snapshot, Tally
from domain.errors import DomainError
from domain.terms import (
    Accrual,
    DistributionKind,
    DistributionTerms,
    Rule,
    RuleKind,
    Withholding,
)

DECIMALS = 6
addresses = st.binary(min_size=20, max_size=20)
balances = st.integers(min_value=0, max_value=10**15)
holder_lists = st.lists(st.tuples(addresses, balances), min_size=1, max_size=40,
                        unique_by=lambda t: t[0])
RULE_VALUES = {
    RuleKind.PRO_RATA: st.integers(1, 10**18),
    RuleKind.PER_UNIT: st.integers(1, 10**9),
    RuleKind.FIXED_PER_HOLDER: st.integers(1, 10**9),
    RuleKind.PERCENTAGE: st.integers(1, 10_000),
    RuleKind.RATE: st.integers(1, 10**9),  # the bond's nominal per whole token
}


@st.composite
def rules(draw, kind):
    value = draw(RULE_VALUES[kind])
    if kind is not RuleKind.RATE:
        return Rule(kind, value)
    start = draw(st.dates(date(2000, 1, 1), date(2080, 1, 1)))
    accrual = Accrual(rate=Fraction(draw(st.integers(1, 10**6)), 10**6),
                      day_count=draw(st.sampled_from(list(DayCount))), start=start,
                      end=start + timedelta(days=draw(st.integers(1, 800))), months=6)
    return Rule(kind, value, accrual)


@st.composite
def scenarios(draw, kind):
    holders = draw(holder_lists)
    accounts = [checksum(a) for a, _ in holders]
    excluded = draw(st.lists(st.sampled_from(accounts), max_size=3, unique=True))
    overrides = draw(st.lists(st.tuples(st.sampled_from(accounts), st.integers(0, 10_000)),
                              max_size=3, unique_by=lambda t: t[0]))
    terms = DistributionTerms(
        kind=DistributionKind.DIVIDEND, rule=draw(rules(kind)),
        record_date=datetime(2026, 1, 1, tzinfo=UTC),
        withholding=Withholding(draw(st.integers(0, 10_000)), tuple(overrides)),
        excluded=tuple(excluded), minimum_payout=draw(st.integers(0, 10**6)),
    )
    rows = [(a, b) for a, (_, b) in zip(accounts, holders, strict=True)]
    vault = draw(st.integers(0, 10**18))
    return terms, rows, vault


def run(terms, rows, vault):
    calc = EntitlementCalculator(terms, Snapshot.from_chunks([rows], DECIMALS), DECIMALS, vault)
    entitlements = list(calc)
    tally = Tally()
    for e in entitlements:
        tally.add(e)
    return calc, entitlements, tally.totals(calc.pool)


@pytest.mark.parametrize("kind", list(RuleKind))
@settings(max_examples=500, deadline=None)
@given(data=st.data())
def test_conservation_no_negatives_and_bounds(kind, data):
    terms, rows, vault = data.draw(scenarios(kind))
    try:
        calc, entitlements, totals = run(terms, rows, vault)
    except DomainError:
        return  # nothing eligible or an empty pool: refused, nothing to check
    net = sum(e.net for e in entitlements)
    withheld = sum(e.withheld for e in entitlements)
    skipped = sum(e.skipped_amount for e in entitlements)
    allotted = sum(e.gross for e in entitlements)
    dust = calc.pool - allotted
    # Conservation, re-derived from the holder records.
    assert net + withheld + dust + skipped == totals.gross == calc.pool
    assert (net, withheld, dust, skipped) == (totals.net, totals.withheld, totals.dust,
                                              totals.skipped_amount)
    # No negative amount anywhere; each holder's parts add up to its gross.
    for e in entitlements:
        assert min(e.gross, e.withheld, e.net, e.balance) >= 0
        if e.skip_reason is None:
            assert e.net + e.withheld == e.gross and e.net >= max(1, terms.minimum_payout)
        else:
            assert e.net == e.withheld == 0
    # Floor rounding loses less than one unit per holder the pool is split over.
    assert 0 <= dust < max(1, calc.eligible_count)
    if kind is RuleKind.PRO_RATA:
        assert allotted <= terms.rule.value  # never pays more than the total
    # Leaves are 0..n-1 in holder order; every holder appears exactly once.
    leaves = [e.leaf_index for e in entitlements if e.leaf_index is not None]
    assert leaves == list(range(len(leaves)))
    assert len({e.account for e in entitlements}) == len(rows)


@pytest.mark.parametrize("kind", list(RuleKind))
@settings(max_examples=500, deadline=None)
@given(data=st.data())
def test_same_snapshot_in_any_order_gives_the_same_entitlements(kind, data):
    terms, rows, vault = data.draw(scenarios(kind))
    shuffled = data.draw(st.permutations(rows))
    try:
        _, first, _ = run(terms, rows, vault)
    except DomainError:
        return
    _, second, _ = run(terms, list(shuffled), vault)
    assert first == second


def test_excluded_zero_and_below_minimum_are_skipped_with_reasons():
    a, b, c, d = ("0x" + f"{i:02x}" * 20 for i in (1, 2, 3, 4))
    terms = DistributionTerms(
        kind=DistributionKind.DIVIDEND, rule=Rule(RuleKind.PRO_RATA, 1_000_000),
        record_date=datetime(2026, 1, 1, tzinfo=UTC), withholding=Withholding(1_000),
        excluded=(a,), minimum_payout=10_000,
    )
    # b holds 1 unit of 1,000,001 eligible: its share (0.999…) rounds below the minimum.
    rows = [(a, 5_000_000), (b, 1), (c, 0), (d, 1_000_000)]
    _, ents, totals = run(terms, rows, None)
    reasons = {e.account.lower(): e.skip_reason for e in ents}
    assert reasons == {a: SkipReason.EXCLUDED, b: SkipReason.ZERO_AMOUNT,
                       c: SkipReason.ZERO_BALANCE, d: None}
    paid = next(e for e in ents if e.skip_reason is None)
    assert paid.gross == 1_000_000 * 1_000_000 // 1_000_001  # floor of its pro-rata share
    assert paid.withheld == paid.gross // 10 and paid.net == paid.gross - paid.withheld
    assert totals.dust == 1_000_000 - paid.gross


def test_a_pool_beyond_the_largest_uint256_is_refused():
    # A per-holder amount within the bound can still add up beyond it over many holders:
    # every holder's gross is at most the pool, so bounding the pool bounds them all.
    terms = DistributionTerms(
        kind=DistributionKind.DIVIDEND, rule=Rule(RuleKind.FIXED_PER_HOLDER, 2**255),
        record_date=datetime(2026, 1, 1, tzinfo=UTC))
    snapshot = Snapshot.from_chunks([[("0x" + "01" * 20, 1), ("0x" + "02" * 20, 1)]], 0)
    with pytest.raises(DomainError, match="2\\*\\*256"):
        EntitlementCalculator(terms, snapshot, 0)
    with pytest.raises(DomainError, match="2\\*\\*256"):
        Snapshot.from_chunks([[("0x" + "01" * 20, 2**256)]], 0)
