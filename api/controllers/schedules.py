"""Schedules: define (idempotent), list, inspect, approve, pause, resume, cancel.

Reads come from the schedules read model (projections.schedules), as the other resources'
do: `wait_for_position` gives read-your-writes. They answer the Structs of app.schedules,
which the CLI prints from the ledger itself, so both doors show the same body.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, FromQuery, HeaderParameter, JSONBody

from api import queries, rows, schemas, writes
from api.auth import principal_of
from api.keys import APPROVE, OPERATE, READ
from api.params import Cursor, Limit, Wait
from api.problems import Problem
from api.reads import ReadModels

ScheduleKey = Annotated[str, HeaderParameter(
    name="Idempotency-Key", min_length=1, max_length=200,
    description="the schedule's key: the same key and body give the same schedule")]
MAX_POSITION = 2**62
VIEW = queries.SCHEDULES

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
                    limit: Limit = 50, wait_for_position: Wait = 0
                    ) -> Response[schemas.SchedulePage]:
        """In the order they were defined; filter by asset."""
        after = rows.decode_cursor(cursor, 1)
        if after is not None and not (after[0].isascii() and after[0].isdigit()
                                       and int(after[0]) < MAX_POSITION):
            raise Problem(400, "bad-cursor", "the cursor is not one this API issued")
        reads: ReadModels = request.app.state.reads
        await reads.wait_for(wait_for_position, VIEW)
        position = int(after[0]) if after else 0
        body = await reads.cached(VIEW, ("list", asset_id, position, limit),
                                  lambda: queries.schedule_page(reads, asset_id, position, limit))
        return rows.encoded(body)

    @get("/{schedule_id:uuid}", opt={"roles": READ}, operation_id="getSchedule")
    async def get_one(self, request: Request[Any, Any, Any], schedule_id: FromPath[UUID],
                      wait_for_position: Wait = 0) -> Response[schemas.ScheduleDetail]:
        """Status, cadence, and each occurrence: spawned (its distribution) or missed."""
        reads: ReadModels = request.app.state.reads
        await reads.wait_for(wait_for_position, VIEW)
        body = await reads.cached(VIEW, ("one", schedule_id),
                                  lambda: queries.schedule_body(reads, schedule_id))
        if body is None:
            raise Problem(404, "not-found", f"no schedule {schedule_id}")
        return rows.encoded(body)

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
