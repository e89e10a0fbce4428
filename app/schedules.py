"""Schedules as operators read them: the views the API returns and the CLI prints.

The CLI renders them here from the ledger itself (no projector needed); the API renders the
same Structs from the schedules read model (projections.schedules). So `mass-payout schedules
show` prints exactly the body of `GET /schedules/{id}`, which tests/api/test_schedules.py
checks byte for byte.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import msgspec

from app.follow import notifications
from app.ledger import PayoutLedger
from domain.schedule import MissedPolicy, ScheduleStatus
from domain.schedule import Schedule as ScheduleAggregate
from domain.terms import DistributionKind, Recurrence, RuleKind, Trigger


class Cadence(msgspec.Struct):
    recurrence: Recurrence | None
    start: datetime | None
    end: datetime | None
    count: int | None
    trigger: Trigger | None


class RuleOut(msgspec.Struct):
    kind: RuleKind
    value: str


class Schedule(msgspec.Struct):
    schedule_id: UUID
    asset_id: UUID
    key: str
    status: ScheduleStatus
    kind: DistributionKind
    rule: RuleOut  # corporate actions: a placeholder, each action's amount is paid instead
    cadence: Cadence
    missed_policy: MissedPolicy
    misfire_grace_seconds: int
    concept: str
    created_by: str
    approved_by: str | None
    paused_reason: str
    next_number: int  # RECURRING: the first occurrence neither spawned nor missed yet
    spawned: int
    missed: int


class Occurrence(msgspec.Struct):
    number: int  # occurrence n of a recurrence, or the token's corporate-action id
    distribution_id: UUID


class ScheduleDetail(Schedule):
    occurrences: list[Occurrence]
    missed_numbers: list[int]


def schedules_page(ledger: PayoutLedger, *, asset_id: UUID | None, after: int,
                   limit: int) -> tuple[list[ScheduleAggregate], int | None]:
    """Schedules in the order they were defined, from the notification log; returns the page
    and the position to continue after (None: the last page)."""
    found: list[tuple[int, UUID]] = []
    for note in notifications(ledger, ScheduleAggregate.Created, after=after):
        created = ledger.mapper.to_domain_event(note)
        if asset_id is None or getattr(created, "asset_id", None) == asset_id:
            found.append((note.id, UUID(str(note.originator_id))))
            if len(found) > limit:
                break
    more = len(found) > limit
    found = found[:limit]
    return [ledger.get_schedule(sid) for _, sid in found], found[-1][0] if more else None


def view(schedule: ScheduleAggregate) -> Schedule:
    terms, e = schedule.terms, schedule.terms.execution
    return Schedule(
        schedule_id=schedule.id, asset_id=schedule.asset_id, key=schedule.key,
        status=schedule.status, kind=terms.kind,
        rule=RuleOut(terms.rule.kind, str(terms.rule.value)),
        cadence=Cadence(e.recurrence, e.start, e.end, e.count, e.trigger),
        missed_policy=schedule.missed_policy,
        misfire_grace_seconds=int(schedule.misfire_grace.total_seconds()),
        concept=terms.concept, created_by=schedule.created_by,
        approved_by=schedule.approved_by, paused_reason=schedule.paused_reason,
        next_number=schedule.next_number, spawned=len(schedule.spawned),
        missed=len(schedule.missed))


def detail(schedule: ScheduleAggregate) -> ScheduleDetail:
    summary = view(schedule)
    return ScheduleDetail(
        **msgspec.structs.asdict(summary),
        occurrences=[Occurrence(n, d) for n, d in sorted(schedule.spawned.items())],
        missed_numbers=sorted(schedule.missed))
