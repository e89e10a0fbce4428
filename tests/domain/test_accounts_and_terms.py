"""Value rules: accounts in one canonical spelling, and terms validated at construction."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from domain import accounts
from domain.errors import InvalidAccount, InvalidAmount, InvalidInput, InvalidRate, InvalidTerms
from domain.terms import (
    DistributionKind,
    DistributionTerms,
    Execution,
    ExecutionKind,
    Recurrence,
    Rule,
    RuleKind,
    Trigger,
    Withholding,
)

RECORD = datetime(2026, 6, 30, tzinfo=UTC)


def test_eip55_checksum_matches_the_eip_test_vectors():
    for address in ("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
                    "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
                    "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
                    "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb"):
        assert accounts.canonical(address.lower()) == address
        assert accounts.canonical(address) == address


def test_a_mistyped_checksum_is_refused():
    with pytest.raises(InvalidAccount, match="checksum"):
        accounts.canonical("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD")


def test_hedera_ids_map_to_long_zero_addresses_and_back():
    address = accounts.canonical("0.0.1234")
    assert address == "0x00000000000000000000000000000000000004d2"
    assert accounts.hedera_id(address) == "0.0.1234"
    assert accounts.hedera_id("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed") is None


@pytest.mark.parametrize("bad", ["", "0x123", "0.0", "0.0.-1", "1.2.3.4", "0xZZ" + "0" * 38,
                                 f"0.0.{2**64}", f"{2**32}.0.1", "alice",
                                 "0.0.\u0661\u0662",  # Arabic-Indic digits: int() takes them
                                 "0.0.5\n", " 0.0.5", "0x" + "ab" * 20 + "\n"])
def test_malformed_accounts_are_refused(bad):
    with pytest.raises(InvalidAccount):
        accounts.canonical(bad)


@pytest.mark.parametrize(("kind", "value", "error"), [
    (RuleKind.PRO_RATA, 0, InvalidAmount), (RuleKind.PRO_RATA, -5, InvalidAmount),
    (RuleKind.PER_UNIT, 1.5, InvalidAmount), (RuleKind.FIXED_PER_HOLDER, True, InvalidAmount),
    (RuleKind.PERCENTAGE, 10_001, InvalidRate), (RuleKind.PERCENTAGE, 0, InvalidTerms),
])
def test_rules_refuse_zero_negative_fractional_and_over_100_percent(kind, value, error):
    with pytest.raises(error):
        Rule(kind, value)


def test_amounts_stop_at_the_largest_uint256():
    # The largest amount a token can move is a rule value and a minimum payout...
    biggest = 2**256 - 1
    assert Rule(RuleKind.PRO_RATA, biggest).value == biggest
    assert DistributionTerms(DistributionKind.DIVIDEND, Rule(RuleKind.PRO_RATA, 1), RECORD,
                             minimum_payout=biggest).minimum_payout == biggest
    # ...and one more is neither: it could never be paid.
    with pytest.raises(InvalidAmount, match="2\\*\\*256"):
        Rule(RuleKind.FIXED_PER_HOLDER, biggest + 1)
    with pytest.raises(InvalidAmount, match="2\\*\\*256"):
        DistributionTerms(DistributionKind.DIVIDEND, Rule(RuleKind.PRO_RATA, 1), RECORD,
                          minimum_payout=biggest + 1)


def test_withholding_over_100_percent_or_given_twice_is_refused():
    with pytest.raises(InvalidRate):
        Withholding(10_001)
    with pytest.raises(InvalidRate):
        Withholding(0, (("0.0.5", 20_000),))
    with pytest.raises(InvalidTerms, match="twice"):
        Withholding(0, (("0.0.5", 100), ("0x0000000000000000000000000000000000000005", 200)))


def test_executions_take_exactly_their_fields():
    start = datetime(2026, 1, 31, 9, tzinfo=timezone(timedelta(hours=2)))
    recurring = Execution(ExecutionKind.RECURRING, recurrence=Recurrence.MONTHLY, start=start,
                          count=12)
    assert recurring.start == datetime(2026, 1, 31, 7, tzinfo=UTC)  # normalised to UTC
    Execution(ExecutionKind.AUTOMATIC, trigger=Trigger.ON_DEPOSIT)
    with pytest.raises(InvalidTerms):
        Execution(ExecutionKind.SCHEDULED)
    with pytest.raises(InvalidTerms):
        Execution(ExecutionKind.MANUAL, at=start)
    with pytest.raises(InvalidTerms):
        Execution(ExecutionKind.RECURRING, recurrence=Recurrence.DAILY, start=start)
    with pytest.raises(InvalidTerms):
        Execution(ExecutionKind.RECURRING, recurrence=Recurrence.DAILY, start=start, count=3,
                  end=start + timedelta(days=3))
    with pytest.raises(InvalidInput, match="timezone"):
        Execution(ExecutionKind.SCHEDULED, at=datetime(2026, 1, 1))


def test_terms_normalise_accounts_and_refuse_cash_out_without_per_unit():
    terms = DistributionTerms(DistributionKind.DIVIDEND, Rule(RuleKind.PRO_RATA, 10), RECORD,
                              excluded=("0.0.7", "0x0000000000000000000000000000000000000007"))
    assert terms.excluded == ("0x0000000000000000000000000000000000000007",)
    with pytest.raises(InvalidTerms):
        DistributionTerms(DistributionKind.CASH_OUT, Rule(RuleKind.PRO_RATA, 10), RECORD)
    with pytest.raises(InvalidAmount):
        DistributionTerms(DistributionKind.DIVIDEND, Rule(RuleKind.PRO_RATA, 10), RECORD,
                          minimum_payout=-1)
