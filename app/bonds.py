"""Bond commands: record a bond's coupon terms, and define its coupon schedule from them.

The same types for the REST API (request bodies) and the CLI (`mass-payout bonds …`, converted
with `msgspec.convert`). The coupon's rate, frequency and day count arrive as text and are
parsed by the domain, so a bad one is a domain refusal naming its field (a 422 problem at the
API, one line at the CLI), not a schema error.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated
from uuid import UUID

import msgspec

from app.commands import (
    Account,
    Bps,
    Text,
    Units,
    WithholdingOverride,
    field_value,
    head,
)
from app.ledger import PayoutLedger
from domain.asset import BondTerms
from domain.daycount import PERIOD_MONTHS, DayCount, day_count
from domain.errors import InvalidField, InvalidTerms
from domain.schedule import MissedPolicy, Schedule
from domain.terms import DistributionKind, DistributionTerms, Withholding, coupon_rate

# A coupon frequency's name → the months one period spans (PERIOD_MONTHS also takes 2 and 4:
# every N months by number).
FREQUENCIES = {"MONTHLY": 1, "QUARTERLY": 3, "SEMI_ANNUAL": 6, "ANNUAL": 12}


class SetBondTerms(msgspec.Struct, forbid_unknown_fields=True):
    """The coupon terms of a bond; nominal and maturity default to what the token declares
    (read at import). Recorded as `BondTermsUpdated` with the actor and the reason."""

    coupon_rate: Annotated[str, msgspec.Meta(
        max_length=40, description="annual, a decimal (0.05 is 5 %), in (0, 1]")]
    frequency: Annotated[str, msgspec.Meta(
        max_length=20, description="MONTHLY, QUARTERLY, SEMI_ANNUAL, ANNUAL, or a number of"
                                   f" months ({', '.join(map(str, sorted(PERIOD_MONTHS)))})")]
    day_count: Annotated[str, msgspec.Meta(
        max_length=40, description=f"one of {', '.join(DayCount)}")]
    issue_date: date
    first_coupon_date: date | None = None
    end_of_month: bool = False
    nominal_value: Units | None = None
    maturity_date: date | None = None
    reason: Text = ""


def months_of(frequency: str) -> int:
    months = FREQUENCIES.get(frequency) or (int(frequency) if frequency.isdigit() else 0)
    if months not in PERIOD_MONTHS:
        raise InvalidTerms(f"{frequency!r} is not one of {', '.join(FREQUENCIES)} or a number"
                           f" of months in {sorted(PERIOD_MONTHS)}")
    return months


def bond_terms_of(body: SetBondTerms, recorded: BondTerms | None) -> BondTerms:
    rate = field_value("coupon_rate", body.coupon_rate, coupon_rate)
    months = field_value("frequency", body.frequency, months_of)
    convention = field_value("day_count", body.day_count, day_count)
    nominal = int(body.nominal_value) if body.nominal_value is not None \
        else recorded.nominal_value if recorded else None
    maturity = body.maturity_date or (recorded.maturity_date if recorded else None)
    if nominal is None:
        raise InvalidField("nominal_value", "the token declares none: give it")
    if maturity is None:
        raise InvalidField("maturity_date", "the token declares none: give it")
    return BondTerms(nominal_value=nominal, maturity_date=maturity, issue_date=body.issue_date,
                     coupon_rate=rate, coupon_months=months, day_count=convention,
                     first_coupon_date=body.first_coupon_date,
                     end_of_month=body.end_of_month)


def set_bond_terms(ledger: PayoutLedger, asset_id: UUID, body: SetBondTerms,
                   actor: str) -> int:
    """Returns the ledger position (the same terms again record nothing)."""
    asset = ledger.get_asset(asset_id)
    ledger.update_bond_terms(asset_id, bond_terms_of(body, asset.bond_terms), actor=actor,
                             reason=body.reason or "coupon terms set by an operator")
    return head(ledger)


class DefineCouponSchedule(msgspec.Struct, forbid_unknown_fields=True):
    """One schedule paying every coupon of the bond, each by rate over its own period."""

    key: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] = "coupons"
    missed_policy: MissedPolicy = MissedPolicy.RUN_ALL
    misfire_grace_seconds: Annotated[int, msgspec.Meta(ge=0, le=86_400)] = 60
    withholding_bps: Bps = 0
    withholding_overrides: Annotated[list[WithholdingOverride],
                                     msgspec.Meta(max_length=10_000)] = []
    excluded: Annotated[list[Account], msgspec.Meta(max_length=10_000)] = []
    minimum_payout: Units = "0"
    concept: Text = ""


def coupon_schedule_terms(terms: BondTerms, body: DefineCouponSchedule) -> DistributionTerms:
    """Occurrence n pays coupon n + 1 on its date (its record date), accruing from the date
    before (the issue date for the first): see domain.schedule.occurrence_terms."""
    cadence = terms.coupon_cadence()
    assert cadence.start is not None  # a RECURRING cadence has its start
    return DistributionTerms(
        kind=DistributionKind.COUPON, rule=terms.coupon_rule(1), record_date=cadence.start,
        execution=cadence,
        withholding=Withholding(body.withholding_bps, tuple(
            (o.account, o.bps) for o in body.withholding_overrides)),
        excluded=tuple(body.excluded), minimum_payout=int(body.minimum_payout),
        concept=body.concept or "coupon")


def define_coupon_schedule(ledger: PayoutLedger, asset_id: UUID, body: DefineCouponSchedule,
                           actor: str) -> tuple[UUID, int, bool]:
    """Returns (id, position, created): a replay of the same request creates nothing."""
    asset = ledger.get_asset(asset_id)
    if asset.bond_terms is None or not asset.bond_terms.pays_coupons:
        raise InvalidField("coupon_rate", f"{asset.symbol} has no coupon terms recorded: set"
                           " them first (PUT /assets/{id}/bond-terms)")
    terms = coupon_schedule_terms(asset.bond_terms, body)
    existed = Schedule.create_id(asset_id, body.key) in ledger.repository
    schedule_id = ledger.define_schedule(
        asset_id=asset_id, key=body.key, terms=terms, missed_policy=body.missed_policy,
        misfire_grace=timedelta(seconds=body.misfire_grace_seconds), actor=actor)
    return schedule_id, head(ledger), not existed
