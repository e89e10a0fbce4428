"""Schedule: a distribution template that spawns distributions over time or on the token's
corporate actions.

Two cadences:
- RECURRING (HOURLY/DAILY/WEEKLY/MONTHLY, a start, an end or a count): occurrence n falls due
  at `recurrence.occurrence_at(start, n)` and becomes the distribution `uuid5(schedule, n)`,
  with that due time as its record date.
- AUTOMATIC ON_CORPORATE_ACTION_DATE: each dividend/coupon the token declares becomes, at its
  execution date, the distribution `uuid5(asset, "corporate-action/<id>")` paying the action's
  amount per unit (the template's rule is replaced by it). Keyed on the asset, not the
  schedule, so two schedules on one token can never pay an action twice.

Both are fired by the scheduler with a `now` it passes in; the decisions (which occurrences to
spawn, which were missed and why) are recorded here as events, so a replay or a second
scheduler finds them already taken. Occurrences the scheduler finds due later than the
misfire grace (downtime) follow the schedule's missed-occurrence policy.

Maker-checker: a schedule spawns nothing until someone other than its creator approves it;
each spawned distribution is created by the schedule's creator and approved by its approver.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain import ids, recurrence
from domain.actors import same_principal
from domain.asset import CorporateAction
from domain.errors import IllegalTransition, InvalidInput, InvalidTerms, MakerCheckerViolation
from domain.terms import DistributionKind, DistributionTerms, ExecutionKind, Rule, RuleKind, Trigger
from domain.values import utc


class ScheduleStatus(StrEnum):
    PENDING_APPROVAL = "PENDING_APPROVAL"
    ACTIVE = "ACTIVE"
    PAUSED = "PAUSED"
    FINISHED = "FINISHED"  # every occurrence has been spawned or missed
    CANCELLED = "CANCELLED"


class MissedPolicy(StrEnum):
    RUN_ALL = "RUN_ALL"  # every missed occurrence still runs, oldest first
    RUN_LATEST = "RUN_LATEST"  # only the most recent missed one runs; the others are skipped
    SKIP = "SKIP"  # missed occurrences are skipped; the schedule goes on from the next one


SCHEDULE_TERMINAL = frozenset({ScheduleStatus.FINISHED, ScheduleStatus.CANCELLED})
MAX_MISFIRE_GRACE = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Occurrence:
    number: int  # occurrence n of a recurrence, or the token's corporate-action id
    due_at: datetime


class Schedule(Aggregate):
    class Created(Aggregate.Created):
        asset_id: UUID
        key: str
        terms: DistributionTerms
        missed_policy: str
        misfire_grace_seconds: int
        actor: str

    class Approved(Aggregate.Event):
        actor: str

    class Paused(Aggregate.Event):
        actor: str
        reason: str

    class Resumed(Aggregate.Event):
        actor: str

    class Cancelled(Aggregate.Event):
        actor: str
        reason: str

    class OccurrenceSpawned(Aggregate.Event):
        number: int
        due_at: datetime
        distribution_id: UUID
        late_seconds: float

    class OccurrencesMissed(Aggregate.Event):
        numbers: list[int]
        due_ats: list[datetime]
        policy: str
        reason: str

    class Finished(Aggregate.Event):
        spawned: int
        missed: int

    @staticmethod
    def create_id(asset_id: UUID, key: str) -> UUID:
        return uuid5(ids.NAMESPACE, f"schedule/{asset_id}/{key}")

    @classmethod
    def define(cls, *, asset_id: UUID, key: str, terms: DistributionTerms,
               missed_policy: MissedPolicy | str, misfire_grace: timedelta,
               actor: str) -> Schedule:
        if not key or len(key) > 200:
            raise InvalidInput("a schedule key of 1..200 characters is required")
        if not actor:
            raise InvalidInput("every command names its actor")
        execution = terms.execution
        recurring = execution.kind is ExecutionKind.RECURRING
        on_actions = execution.kind is ExecutionKind.AUTOMATIC \
            and execution.trigger is Trigger.ON_CORPORATE_ACTION_DATE
        if not (recurring or on_actions):
            raise InvalidTerms("a schedule is RECURRING, or AUTOMATIC ON_CORPORATE_ACTION_DATE;"
                               f" {execution.kind} {execution.trigger or ''} is a distribution's"
                               " own execution mode".replace("  ", " "))
        accrual = terms.rule.accrual
        if accrual is not None and (not recurring or execution.start is None
                                    or accrual.end != execution.start.date()):
            raise InvalidTerms("a RATE schedule's template accrues its first coupon period,"
                               " which ends on the first occurrence; each later occurrence"
                               " accrues from the one before")
        try:
            policy = MissedPolicy(missed_policy)
        except ValueError:
            raise InvalidInput(f"missed policy {missed_policy!r} is not one of"
                               f" {', '.join(MissedPolicy)}") from None
        if not timedelta(0) <= misfire_grace <= MAX_MISFIRE_GRACE:
            raise InvalidInput("the misfire grace lies between 0 and 1 day")
        return cls(asset_id=asset_id, key=key, terms=terms, missed_policy=policy.value,
                   misfire_grace_seconds=int(misfire_grace.total_seconds()), actor=actor)

    @event(Created)
    def __init__(self, asset_id: UUID, key: str, terms: DistributionTerms, missed_policy: str,
                 misfire_grace_seconds: int, actor: str) -> None:
        self.asset_id = asset_id
        self.key = key
        self.terms = terms
        self.missed_policy = MissedPolicy(missed_policy)
        self.misfire_grace = timedelta(seconds=misfire_grace_seconds)
        self.created_by = actor
        self.approved_by: str | None = None
        self.status = ScheduleStatus.PENDING_APPROVAL
        self.next_number = 0  # recurring: the first occurrence not yet spawned or missed
        self.spawned: dict[int, UUID] = {}
        self.missed: list[int] = []
        self.paused_reason = ""

    @property
    def on_corporate_actions(self) -> bool:
        return self.terms.execution.trigger is Trigger.ON_CORPORATE_ACTION_DATE

    def occurrence_id(self, number: int) -> UUID:
        if self.on_corporate_actions:
            return ids.distribution_id(self.asset_id, action_key(number))
        return uuid5(self.id, str(number))

    def occurrence_key(self, number: int) -> str:
        """The spawned distribution's idempotency key: traceable back to this schedule."""
        if self.on_corporate_actions:
            return action_key(number)
        return f"schedule/{self.id}/{number}"

    def _require(self, *allowed: ScheduleStatus) -> None:
        if self.status not in allowed:
            raise IllegalTransition(f"schedule {self.id} is {self.status}")

    # --- lifecycle ---

    def approve(self, actor: str) -> None:
        self._require(ScheduleStatus.PENDING_APPROVAL)
        if same_principal(actor, self.created_by):  # two keys, one person: refused
            raise MakerCheckerViolation(f"{actor} created this schedule; another must approve")
        self._approved(actor=actor)

    @event(Approved)
    def _approved(self, actor: str) -> None:
        self.approved_by = actor
        self.status = ScheduleStatus.ACTIVE

    def pause(self, actor: str, reason: str) -> None:
        self._require(ScheduleStatus.ACTIVE)
        self._paused(actor=actor, reason=reason[:500])

    @event(Paused)
    def _paused(self, actor: str, reason: str) -> None:
        self.status = ScheduleStatus.PAUSED
        self.paused_reason = reason

    def resume(self, actor: str) -> None:
        """Occurrences that fell due while paused are then handled by the missed policy."""
        self._require(ScheduleStatus.PAUSED)
        self._resumed(actor=actor)

    @event(Resumed)
    def _resumed(self, actor: str) -> None:
        self.status = ScheduleStatus.ACTIVE
        self.paused_reason = ""

    def cancel(self, actor: str, reason: str) -> None:
        """Stops future occurrences; distributions already spawned go on by their own state."""
        self._require(ScheduleStatus.PENDING_APPROVAL, ScheduleStatus.ACTIVE,
                      ScheduleStatus.PAUSED)
        self._cancelled(actor=actor, reason=reason[:500])

    @event(Cancelled)
    def _cancelled(self, actor: str, reason: str) -> None:
        self.status = ScheduleStatus.CANCELLED

    # --- firing ---

    def due(self, now: datetime, corporate_actions: list[Occurrence] | None = None
            ) -> list[Occurrence]:
        """Occurrences due at `now` and neither spawned nor missed yet, oldest first."""
        if self.status is not ScheduleStatus.ACTIVE:
            return []
        now = utc(now, "now")
        if self.on_corporate_actions:
            done = set(self.spawned) | set(self.missed)
            return sorted((a for a in corporate_actions or [] if a.number not in done
                           and a.due_at <= now), key=lambda a: (a.due_at, a.number))
        return [Occurrence(n, at) for n, at in
                recurrence.due_until(self.terms.execution, self.next_number, now)]

    def fire(self, now: datetime, due: list[Occurrence]) -> list[Occurrence]:
        """Decide which due occurrences run now, recording the missed ones; returns the ones to
        spawn. The caller records `spawned()` for each in the same save as its distribution."""
        self._require(ScheduleStatus.ACTIVE)
        now = utc(now, "now")
        late = [o for o in due if now - o.due_at > self.misfire_grace]
        on_time = [o for o in due if o not in late]
        if late and self.missed_policy is not MissedPolicy.RUN_ALL:
            keep = late[-1:] if self.missed_policy is MissedPolicy.RUN_LATEST and not on_time \
                else []
            skipped = [o for o in late if o not in keep]
            if skipped:
                self._missed(numbers=[o.number for o in skipped],
                             due_ats=[o.due_at for o in skipped],
                             policy=self.missed_policy.value,
                             reason=f"due more than {self.misfire_grace} before the scheduler"
                                    " ran (downtime or pause)")
            late = keep
        return late + on_time

    @event(OccurrencesMissed)
    def _missed(self, numbers: list[int], due_ats: list[datetime], policy: str,
                reason: str) -> None:
        self.missed.extend(numbers)
        if not self.on_corporate_actions:
            self.next_number = max(self.next_number, max(numbers) + 1)

    def spawned_occurrence(self, occurrence: Occurrence, now: datetime) -> UUID:
        if occurrence.number in self.spawned or occurrence.number in self.missed:
            raise IllegalTransition(f"occurrence {occurrence.number} of schedule {self.id}"
                                    " is already decided")
        distribution_id = self.occurrence_id(occurrence.number)
        self._spawned(number=occurrence.number, due_at=occurrence.due_at,
                      distribution_id=distribution_id,
                      late_seconds=round((utc(now, "now") - occurrence.due_at)
                                         .total_seconds(), 3))
        return distribution_id

    @event(OccurrenceSpawned)
    def _spawned(self, number: int, due_at: datetime, distribution_id: UUID,
                 late_seconds: float) -> None:
        self.spawned[number] = distribution_id
        if not self.on_corporate_actions:
            self.next_number = max(self.next_number, number + 1)

    def finish_if_exhausted(self) -> None:
        if self.status is ScheduleStatus.ACTIVE and not self.on_corporate_actions \
                and recurrence.is_exhausted(self.terms.execution, self.next_number):
            self._finished(spawned=len(self.spawned), missed=len(self.missed))

    @event(Finished)
    def _finished(self, spawned: int, missed: int) -> None:
        self.status = ScheduleStatus.FINISHED


def action_key(action_id: int) -> str:
    return f"corporate-action/{action_id}"


def occurrence_terms(schedule: Schedule, occurrence: Occurrence,
                     action: CorporateAction | None = None) -> DistributionTerms:
    """The spawned distribution's terms: the template, recorded on the occurrence's date.

    A recurring occurrence's record date is its due time; a RATE coupon's occurrence n > 0
    accrues over [occurrence n-1, occurrence n). A corporate action brings its own kind,
    amount per unit and record date."""
    if schedule.on_corporate_actions:
        if action is None or action.action_id != occurrence.number:
            raise InvalidInput(f"occurrence {occurrence.number} needs its corporate action")
        return replace(schedule.terms, kind=DistributionKind(action.kind),
                       rule=Rule(RuleKind.PER_UNIT, action.amount_per_unit),
                       record_date=action.record_date)
    rule, accrual = schedule.terms.rule, schedule.terms.rule.accrual
    if accrual is not None and occurrence.number > 0:
        start = recurrence.due_at(schedule.terms.execution, occurrence.number - 1).date()
        rule = replace(rule, accrual=replace(accrual, start=start, end=occurrence.due_at.date()))
    return replace(schedule.terms, rule=rule, record_date=occurrence.due_at)


def action_of_key(idempotency_key: str) -> int | None:
    """The corporate action a distribution pays, from its key (None: not an action's)."""
    prefix, _, number = idempotency_key.partition("corporate-action/")
    return int(number) if not prefix and number.isdigit() else None
