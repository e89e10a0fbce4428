"""Commands: what an operator asks of the ledger, the same types whichever door it comes in by.

The REST API takes these as its request bodies (api.schemas names them for the document) and
the CLI converts its options into them with `msgspec.convert`, so both accept and refuse the
same input: each field's constraint is here, the business rules are the domain's. A handler
maps a command onto the ledger's methods and returns `(id, position, created)`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Literal, TypeVar
from uuid import UUID

import msgspec

from app.ledger import PayoutLedger
from domain import ids
from domain.accounts import ACCOUNT_PATTERN
from domain.asset import Asset
from domain.daycount import DayCount, day_count
from domain.errors import InvalidField, InvalidInput, InvalidTerms
from domain.rails import Rail
from domain.redemption import principal_rule
from domain.schedule import MissedPolicy, Schedule
from domain.terms import (
    Accrual,
    DistributionKind,
    DistributionTerms,
    Execution,
    ExecutionKind,
    Recurrence,
    Rule,
    RuleKind,
    Trigger,
    Withholding,
    coupon_rate,
)
from domain.values import AMOUNT_PATTERN

# The patterns are the domain's own grammar (ASCII digits only, the whole string, amounts up
# to 2**256 - 1 and Hedera ids in range), so the document says exactly what the ledger takes.
Units = Annotated[str, msgspec.Meta(
    pattern=AMOUNT_PATTERN, description="integer in smallest units, 0..2**256 - 1")]
Bps = Annotated[int, msgspec.Meta(ge=0, le=10_000)]
Text = Annotated[str, msgspec.Meta(max_length=500)]
Account = Annotated[str, msgspec.Meta(
    pattern=ACCOUNT_PATTERN,
    description="EVM address (0x…, EIP-55 checksummed if mixed case: a wrong checksum is a"
                " 422) or Hedera id shard.realm.num (shard < 2**32, realm and num < 2**64)")]


class RuleIn(msgspec.Struct, forbid_unknown_fields=True):
    """`value` for PRO_RATA, PER_UNIT, FIXED_PER_HOLDER and PERCENTAGE. A RATE coupon (a
    bond's coupon by rate: per holder floor(units x nominal x rate x day-count fraction)) takes
    either `coupon`, the number of a coupon in the bond's recorded terms (its nominal, rate,
    day count and period), or its own accrual: `value` (the nominal per whole token), `rate`,
    `day_count`, `period_start` and `period_end`."""

    kind: RuleKind
    value: Units | None = None
    coupon: Annotated[int, msgspec.Meta(
        ge=1, le=1_200, description="RATE: the bond's coupon number (1 is the first)")] | None \
        = None
    rate: Annotated[str, msgspec.Meta(
        max_length=40, description="RATE: annual, a decimal (0.05 is 5 %), at most 100 %")] \
        | None = None
    day_count: Annotated[str, msgspec.Meta(
        max_length=40, description=f"RATE: one of {', '.join(DayCount)}")] | None = None
    period_start: date | None = None
    period_end: date | None = None


RATE_FIELDS = ("coupon", "rate", "day_count", "period_start", "period_end")


def rule_of(rule: RuleIn, asset: Asset | None = None) -> Rule:
    """The domain's rule; a RATE coupon's from the bond's terms (`asset`) or its own accrual.
    Bad input names its field (`rule.rate`, `rule.day_count`, ...): a 422 at the API."""
    given = [n for n in RATE_FIELDS if getattr(rule, n) is not None]
    if rule.kind is not RuleKind.RATE:
        if given:
            raise InvalidField(f"rule.{given[0]}", f"only a RATE rule takes {given[0]}")
        if rule.value is None:
            raise InvalidField("rule.value", f"a {rule.kind} rule needs its value")
        return Rule(rule.kind, int(rule.value))
    if rule.coupon is not None:
        if given != ["coupon"] or rule.value is not None:
            raise InvalidField("rule.coupon", "a coupon by number takes its nominal, rate,"
                               " day count and period from the bond's terms: give nothing"
                               " else")
        if asset is None:
            raise InvalidField("rule.coupon", "a coupon by number needs the bond's asset")
        return coupon_rule(asset, rule.coupon)
    if rule.value is None:
        raise InvalidField("rule.value", "a RATE coupon by its own accrual needs the nominal"
                           " per whole token as its value (or give `coupon`)")
    rate = field_value("rule.rate", rule.rate, coupon_rate)
    convention = field_value("rule.day_count", rule.day_count, day_count)
    if rule.period_start is None or rule.period_end is None:
        missing = "rule.period_start" if rule.period_start is None else "rule.period_end"
        raise InvalidField(missing, "a RATE coupon accrues over a period: give its start and"
                           " end")
    try:
        accrual = Accrual(rate=rate, day_count=convention, start=rule.period_start,
                          end=rule.period_end)
    except InvalidInput as err:
        raise InvalidField("rule.period_end", str(err)) from None
    return Rule(RuleKind.RATE, int(rule.value), accrual)


def coupon_rule(asset: Asset, number: int) -> Rule:
    if asset.bond_terms is None or not asset.bond_terms.pays_coupons:
        raise InvalidField("rule.coupon", f"{asset.symbol} has no coupon terms recorded (set"
                           " them: PUT /assets/{id}/bond-terms)")
    try:
        return asset.bond_terms.coupon_rule(number)
    except InvalidInput as err:
        raise InvalidField("rule.coupon", str(err)) from None


T = TypeVar("T")


def field_value(name: str, text: str | None, parse: Callable[[str], T]) -> T:
    """`parse(text)`, its refusal (or a missing value) named after the field."""
    if text is None:
        raise InvalidField(name, "required")
    try:
        return parse(text)
    except InvalidInput as err:
        raise InvalidField(name, str(err)) from None
    except ValueError:
        raise InvalidField(name, f"{text!r} is not one of the accepted values") from None


class ExecutionIn(msgspec.Struct, forbid_unknown_fields=True):
    kind: ExecutionKind = ExecutionKind.MANUAL
    at: datetime | None = None
    recurrence: Recurrence | None = None
    start: datetime | None = None
    end: datetime | None = None
    count: Annotated[int, msgspec.Meta(ge=1, le=10_000)] | None = None
    trigger: Trigger | None = None


class WithholdingOverride(msgspec.Struct, forbid_unknown_fields=True):
    account: Account
    bps: Bps


class CreateDistribution(msgspec.Struct, forbid_unknown_fields=True):
    """`rule` may be left out of a CASH_OUT only: it then redeems at the bond's nominal."""

    asset_id: UUID
    kind: DistributionKind
    record_date: datetime
    rule: RuleIn | None = None
    execution: ExecutionIn | None = None
    withholding_bps: Bps = 0
    withholding_overrides: Annotated[list[WithholdingOverride],
                                     msgspec.Meta(max_length=10_000)] = []
    excluded: Annotated[list[Account], msgspec.Meta(
        max_length=10_000, description="accounts left out of the distribution")] = []
    minimum_payout: Units = "0"
    concept: Text = ""
    rail: Annotated[Rail, msgspec.Meta(
        description="VAULT (the PayoutVault contract, the default) or HTS (native Hedera"
                    " token transfers: a Hedera asset paying an HTS token, not a CASH_OUT)")
    ] = Rail.VAULT


class CadenceIn(msgspec.Struct, forbid_unknown_fields=True):
    """RECURRING: a recurrence, a start and one of `end` (exclusive) or `count`. Corporate
    actions: `trigger` alone, and each dividend/coupon the token declares is paid."""

    recurrence: Recurrence | None = None
    start: datetime | None = None
    end: datetime | None = None
    count: Annotated[int, msgspec.Meta(ge=1, le=10_000)] | None = None
    trigger: Literal["ON_CORPORATE_ACTION_DATE"] | None = None


class DefineSchedule(msgspec.Struct, forbid_unknown_fields=True):
    asset_id: UUID
    kind: DistributionKind
    cadence: CadenceIn
    rule: RuleIn | None = None  # required when RECURRING; corporate actions bring their own
    missed_policy: MissedPolicy = MissedPolicy.RUN_LATEST
    misfire_grace_seconds: Annotated[int, msgspec.Meta(ge=0, le=86_400)] = 60
    withholding_bps: Bps = 0
    withholding_overrides: Annotated[list[WithholdingOverride],
                                     msgspec.Meta(max_length=10_000)] = []
    excluded: Annotated[list[Account], msgspec.Meta(
        max_length=10_000, description="accounts left out of every occurrence")] = []
    minimum_payout: Units = "0"
    concept: Text = ""


def terms_of(body: CreateDistribution, asset: Asset | None = None) -> DistributionTerms:
    """The distribution's terms; `asset` (the asset paid) supplies a bond's terms to a RATE
    coupon by number and to a CASH_OUT without a rule."""
    e = body.execution or ExecutionIn()
    if body.rule is not None:
        rule = rule_of(body.rule, asset)
    elif body.kind is DistributionKind.CASH_OUT and asset is not None:
        rule = principal_rule(asset)
    else:
        raise InvalidField("rule", "required (only a CASH_OUT may leave it out: it redeems at"
                           " the bond's nominal)")
    return DistributionTerms(
        kind=body.kind, rule=rule,
        record_date=body.record_date,
        execution=Execution(kind=e.kind, at=e.at, recurrence=e.recurrence, start=e.start,
                            end=e.end, count=e.count, trigger=e.trigger),
        withholding=Withholding(body.withholding_bps,
                                tuple((o.account, o.bps) for o in body.withholding_overrides)),
        excluded=tuple(body.excluded), minimum_payout=int(body.minimum_payout),
        concept=body.concept)


def head(ledger: PayoutLedger) -> int:
    """For commands that return an id: the ledger head is at or after their events."""
    return ledger.recorder.max_notification_id() or 0


def create_distribution(ledger: PayoutLedger, body: CreateDistribution, key: str,
                        actor: str) -> tuple[UUID, int, bool]:
    """Returns (id, position, created): a replay of the same request creates nothing."""
    terms = terms_of(body, ledger.get_asset(body.asset_id))
    existed = ids.distribution_id(body.asset_id, key) in ledger.repository
    distribution_id = ledger.create_distribution(asset_id=body.asset_id, idempotency_key=key,
                                                 terms=terms, actor=actor, rail=body.rail)
    return distribution_id, head(ledger), not existed


# A corporate-action schedule's template rule: never paid, each action's amount replaces it.
ACTION_RULE = Rule(RuleKind.PER_UNIT, 1)


def schedule_terms(body: DefineSchedule, now: datetime) -> DistributionTerms:
    """The schedule's template. Its record date is replaced per occurrence: the occurrence's
    due time (RECURRING: the start here) or the corporate action's record date (`now` here)."""
    c = body.cadence
    try:
        if c.trigger is not None:
            given = [n for n in ("recurrence", "start", "end", "count")
                     if getattr(c, n) is not None]
            if given:
                raise InvalidTerms(f"a corporate-action cadence takes no {', '.join(given)}")
            if body.rule is not None:
                raise InvalidTerms("a corporate-action schedule pays each action's own amount"
                                   " per unit: leave the rule out")
            execution = Execution(ExecutionKind.AUTOMATIC, trigger=Trigger(c.trigger))
            rule, record_date = ACTION_RULE, now
        else:
            execution = Execution(ExecutionKind.RECURRING, recurrence=c.recurrence,
                                  start=c.start, end=c.end, count=c.count)
            if body.rule is None:
                raise InvalidTerms("a RECURRING schedule needs a rule")
            rule = rule_of(body.rule)  # a RATE coupon schedule: define_coupon_schedule
            record_date = execution.start or now
        return DistributionTerms(
            kind=body.kind, rule=rule, record_date=record_date, execution=execution,
            withholding=Withholding(body.withholding_bps, tuple(
                (o.account, o.bps) for o in body.withholding_overrides)),
            excluded=tuple(body.excluded), minimum_payout=int(body.minimum_payout),
            concept=body.concept)
    except OverflowError:  # e.g. 0001-01-01T00:00+01:00 has no UTC time
        raise InvalidInput("a date lies outside the range of UTC times") from None


def define_schedule(ledger: PayoutLedger, body: DefineSchedule, key: str,
                    actor: str) -> tuple[UUID, int, bool]:
    """Returns (id, position, created): a replay of the same request creates nothing.

    A corporate-action template is recorded `now`; a replay reuses the recorded date, so
    that it is the same request (and not an idempotency conflict)."""
    schedule_id = Schedule.create_id(body.asset_id, key)
    existed = schedule_id in ledger.repository
    now = datetime.now(UTC)
    if existed and body.cadence.trigger is not None:
        now = ledger.get_schedule(schedule_id).terms.record_date
    defined = ledger.define_schedule(
        asset_id=body.asset_id, key=key, terms=schedule_terms(body, now),
        missed_policy=body.missed_policy,
        misfire_grace=timedelta(seconds=body.misfire_grace_seconds), actor=actor)
    return defined, head(ledger), not existed
