"""Redemption at maturity (cash-out): when a bond's units may be redeemed, and for what.

A cash-out freezes the holder list at its record date and redeems every unit in it; the
record date must be on or after the bond's maturity (its snapshot block then lies at or after
maturity on the chain's own clock, so a cash-out can never run before maturity, whatever the
wall clock of the process says). Refused here, a cash-out records nothing and sends nothing.
"""

from __future__ import annotations

from domain.asset import Asset, AssetKind, BondTerms
from domain.errors import InvalidTerms
from domain.terms import DistributionKind, DistributionTerms, Rule, RuleKind


def principal_rule(asset: Asset) -> Rule:
    """A cash-out's default rule: the bond's nominal value per whole unit."""
    return Rule(RuleKind.PER_UNIT, redeemable_bond(asset).nominal_value)


def redeemable_bond(asset: Asset) -> BondTerms:
    if asset.kind is not AssetKind.BOND or asset.bond_terms is None:
        raise InvalidTerms(f"{asset.symbol} is not a bond with recorded terms: it has nothing"
                           " to redeem")
    return asset.bond_terms


def check_cash_out(asset: Asset, terms: DistributionTerms) -> None:
    """A CASH_OUT is a bond's, with its record date at or after maturity."""
    if terms.kind is not DistributionKind.CASH_OUT:
        return
    bond = redeemable_bond(asset)
    if terms.record_date.date() < bond.maturity_date:
        raise InvalidTerms(f"a cash-out redeems at maturity ({bond.maturity_date}): a record"
                           f" date of {terms.record_date.date()} is before it")
