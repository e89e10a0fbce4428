"""Schedules: define (idempotent), list, inspect, approve, pause, resume, cancel.

Reads come from the ledger's aggregates, not a read model: schedules are few, and an
operator who just approved one sees it approved (no projection lag to wait for).
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, FromQuery, HeaderParameter, JSONBody

from api import rows, schemas, writes
from api.auth import principal_of
from api.keys import APPROVE, OPERATE, READ
from api.params import Cursor, Limit
from api.problems import Problem
from domain.schedule import Schedule
from mass_payout.ledger import PayoutLedger

ScheduleKey = Annotated[str, HeaderParameter(
    name="Idempotency-Key", min_length=1, max_length=200,
    description="the schedule's key: the same key and body give the same schedule")]
CREATED = f"{Schedule.Created.__module__}:{Schedule.Created.__qualname__}"
MAX_POSITION = 2**62


def schedules_page(ledger: PayoutLedger, *, asset_id: UUID | None, after: int,
                   limit: int) -> tuple[list[Schedule], int | None]:
    """Schedules in the order they were defined, from the notification log; returns the page
    and the position to continue after (None: the last page)."""
    found: list[tuple[int, UUID]] = []
    position = after
    while len(found) <= limit and (page := ledger.recorder.select_notifications(
            start=position + 1, limit=500, topics=[CREATED])):
        for note in page:
            created = ledger.mapper.to_domain_event(note)
            if asset_id is None or getattr(created, "asset_id", None) == asset_id:
                found.append((note.id, UUID(str(note.originator_id))))
        position = page[-1].id
    more = len(found) > limit
    found = found[:limit]
    return [ledger.get_schedule(sid) for _, sid in found], found[-1][0] if more else None


def view(schedule: Schedule) -> schemas.Schedule:
    terms, e = schedule.terms, schedule.terms.execution
    return schemas.Schedule(
        schedule_id=schedule.id, asset_id=schedule.asset_id, key=schedule.key,
        status=schedule.status, kind=terms.kind,
        rule=schemas.RuleOut(terms.rule.kind, str(terms.rule.value)),
        cadence=schemas.Cadence(e.recurrence, e.start, e.end, e.count, e.trigger),
        missed_policy=schedule.missed_policy,
        misfire_grace_seconds=int(schedule.misfire_grace.total_seconds()),
        concept=terms.concept, created_by=schedule.created_by,
        approved_by=schedule.approved_by, paused_reason=schedule.paused_reason,
        next_number=schedule.next_number, spawned=len(schedule.spawned),
        missed=len(schedule.missed))


def detail(schedule: Schedule) -> schemas.ScheduleDetail:
    summary = view(schedule)
    return schemas.ScheduleDetail(
        **msgspec.structs.asdict(summary),
        occurrences=[schemas.Occurrence(n, d) for n, d in sorted(schedule.spawned.items())],
        missed_numbers=sorted(schedule.missed))


class ScheduleController(Controller):
    path = "/schedules"
    tags = ["schedules"]  # noqa: RUF012  # Litestar declares it a list

    @post("/", opt={"roles": OPERATE}, operation_id="createSchedule", status_code=201,
          responses={200: ResponseSpec(schemas.ScheduleWritten, generate_examples=False,
                                       description="A replay: the schedule defined before")})
    async def create(self, request: Request[Any, Any, Any],
                     data: JSONBody[schemas.ScheduleCreate],
                     idempotency_key: ScheduleKey) -> Response[schemas.ScheduleWritten]:
        """Define a schedule; it spawns nothing until another key approves it. The same
        Idempotency-Key with the same body returns the same schedule (200); with another
        body it is a 409 problem.

        The cadence is RECURRING (`recurrence`, `start`, and `end` or `count`; occurrence n is
        recorded at its due time) or `trigger: ON_CORPORATE_ACTION_DATE`: each dividend or
        coupon the token declares is paid at its execution date, and the action's own kind,
        amount per unit and record date replace the template's. Such a schedule takes no
        `rule` (its template shows PER_UNIT 1, never paid)."""
        ledger = request.app.state.ledger
        sid, position, created = await writes.call(
            writes.define_schedule, ledger, data, idempotency_key, principal_of(request).actor)
        return Response(schemas.ScheduleWritten(sid, position),
                        status_code=201 if created else 200)

    @get("/", opt={"roles": READ}, operation_id="listSchedules")
    async def list_(self, request: Request[Any, Any, Any],
                    asset_id: FromQuery[UUID | None] = None, cursor: Cursor = None,
                    limit: Limit = 50) -> schemas.SchedulePage:
        """In the order they were defined; filter by asset."""
        after = rows.decode_cursor(cursor, 1)
        if after is not None and not (after[0].isascii() and after[0].isdigit()
                                       and int(after[0]) < MAX_POSITION):
            raise Problem(400, "bad-cursor", "the cursor is not one this API issued")
        found, last = await writes.call(schedules_page, request.app.state.ledger,
                                        asset_id=asset_id, after=int(after[0]) if after else 0,
                                        limit=limit)
        return schemas.SchedulePage([view(s) for s in found],
                                    rows.encode_cursor(last) if last is not None else None)

    @get("/{schedule_id:uuid}", opt={"roles": READ}, operation_id="getSchedule")
    async def get_one(self, request: Request[Any, Any, Any],
                      schedule_id: FromPath[UUID]) -> schemas.ScheduleDetail:
        """Status, cadence, and each occurrence: spawned (its distribution) or missed."""
        ledger = request.app.state.ledger
        return detail(await writes.call(ledger.get_schedule, schedule_id))

    @post("/{schedule_id:uuid}/approve", opt={"roles": APPROVE},
          operation_id="approveSchedule", status_code=200)
    async def approve(self, request: Request[Any, Any, Any],
                      schedule_id: FromPath[UUID]) -> schemas.Written:
        """Four eyes: the approving key must differ from the defining key. Each occurrence
        is then created by the definer and approved by the approver."""
        ledger = request.app.state.ledger
        return schemas.Written(await writes.call(
            ledger.approve_schedule, schedule_id, principal_of(request).actor))

    @post("/{schedule_id:uuid}/pause", opt={"roles": OPERATE}, operation_id="pauseSchedule",
          status_code=200)
    async def pause(self, request: Request[Any, Any, Any], schedule_id: FromPath[UUID],
                    data: JSONBody[schemas.PauseRequest]) -> schemas.Written:
        """Stop spawning an active schedule until it is resumed."""
        ledger = request.app.state.ledger
        return schemas.Written(await writes.call(
            ledger.pause_schedule, schedule_id, principal_of(request).actor, data.reason))

    @post("/{schedule_id:uuid}/resume", opt={"roles": OPERATE}, operation_id="resumeSchedule",
          status_code=200)
    async def resume(self, request: Request[Any, Any, Any],
                     schedule_id: FromPath[UUID]) -> schemas.Written:
        """Occurrences that fell due while paused follow the schedule's missed policy."""
        ledger = request.app.state.ledger
        return schemas.Written(await writes.call(
            ledger.resume_schedule, schedule_id, principal_of(request).actor))

    @post("/{schedule_id:uuid}/cancel", opt={"roles": APPROVE}, operation_id="cancelSchedule",
          status_code=200)
    async def cancel(self, request: Request[Any, Any, Any], schedule_id: FromPath[UUID],
                     data: JSONBody[schemas.CancelRequest]) -> schemas.Written:
        """No further occurrences; distributions already spawned go on by their own state."""
        ledger = request.app.state.ledger
        return schemas.Written(await writes.call(
            ledger.cancel_schedule, schedule_id, principal_of(request).actor, data.reason))
