"""Schedules: define (idempotent), list, inspect, approve, pause, resume, cancel.

Reads come from the application's schedule queries (app.schedules), which the CLI uses too.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, FromQuery, HeaderParameter, JSONBody

from api import rows, schemas, writes
from api.auth import principal_of
from api.keys import APPROVE, OPERATE, READ
from api.params import Cursor, Limit
from api.problems import Problem
from app.schedules import detail, schedules_page, view

ScheduleKey = Annotated[str, HeaderParameter(
    name="Idempotency-Key", min_length=1, max_length=200,
    description="the schedule's key: the same key and body give the same schedule")]
MAX_POSITION = 2**62


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
