"""Commands: what an operator asks of the ledger, the same types whichever door it comes in by.

The REST API takes these as its request bodies (api.schemas names them for the document) and
the CLI converts its options into them with `msgspec.convert`, so both accept and refuse the
same input: each field's constraint is here, the business rules are the domain's. A handler
maps a command onto the ledger's methods and returns `(id, position, created)`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal
from uuid import UUID

import msgspec

from app.ledger import PayoutLedger
from domain import ids
from domain.accounts import ACCOUNT_PATTERN
from domain.errors import InvalidInput, InvalidTerms
from domain.schedule import MissedPolicy, Schedule
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
    """A RATE rule (a bond coupon by rate) is built from the bond's recorded terms, not from
    a request body: the API refuses it (422) until it takes a coupon period."""

    kind: RuleKind
    value: Units


def rule_of(rule: RuleIn) -> Rule:
    if rule.kind is RuleKind.RATE:
        raise InvalidTerms("a RATE coupon is computed from the bond's terms (nominal, rate, day"
                           " count, coupon dates): it cannot be given as a value here yet;"
                           " pay a coupon PER_UNIT")
    return Rule(rule.kind, int(rule.value))


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
    asset_id: UUID
    kind: DistributionKind
    rule: RuleIn
    record_date: datetime
    execution: ExecutionIn | None = None
    withholding_bps: Bps = 0
    withholding_overrides: Annotated[list[WithholdingOverride],
                                     msgspec.Meta(max_length=10_000)] = []
    excluded: Annotated[list[Account], msgspec.Meta(
        max_length=10_000, description="accounts left out of the distribution")] = []
    minimum_payout: Units = "0"
    concept: Text = ""


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


def terms_of(body: CreateDistribution) -> DistributionTerms:
    e = body.execution or ExecutionIn()
    return DistributionTerms(
        kind=body.kind, rule=rule_of(body.rule),
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
    terms = terms_of(body)
    existed = ids.distribution_id(body.asset_id, key) in ledger.repository
    distribution_id = ledger.create_distribution(asset_id=body.asset_id, idempotency_key=key,
                                                 terms=terms, actor=actor)
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
            rule = rule_of(body.rule)
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
