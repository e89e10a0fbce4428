"""Schedules: define (idempotent), list, inspect, approve, pause, resume, cancel.

Reads come from the schedules read model (projections.schedules), as the other resources'
do: `wait_for_position` gives read-your-writes. They answer the Structs of app.schedules,
which the CLI prints from the ledger itself, so both doors show the same body.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, FromQuery, HeaderParameter, JSONBody
from psycopg import sql
from psycopg.errors import UndefinedTable

from api import rows, schemas, writes
from api.auth import principal_of
from api.keys import APPROVE, OPERATE, READ
from api.params import Cursor, Limit, Wait
from api.problems import Problem
from api.reads import ReadModels, Row

ScheduleKey = Annotated[str, HeaderParameter(
    name="Idempotency-Key", min_length=1, max_length=200,
    description="the schedule's key: the same key and body give the same schedule")]
MAX_POSITION = 2**62
VIEW = "schedules"

# --- reads: each renders the encoded body that `ReadModels.cached` keeps until the read
# model's next commit. A read model the projector has not created yet (an API newer than
# its projector) is one at position 0: nothing to show, never a 500.

_encode = msgspec.json.Encoder().encode
_SUMMARY = ("schedule_id", "asset_id", "key", "status", "kind", "missed_policy",
            "misfire_grace_seconds", "concept", "created_by", "approved_by", "paused_reason",
            "next_number", "spawned", "missed")
_DETAIL = (
    "SELECT s.*, (SELECT coalesce(json_agg(json_build_object('number', o.number,"
    " 'distribution_id', o.distribution_id) ORDER BY o.number), '[]') FROM {occurrences} o"
    " WHERE o.schedule_id = s.schedule_id AND o.distribution_id IS NOT NULL) AS occurrences,"
    " ARRAY(SELECT o.number FROM {occurrences} o WHERE o.schedule_id = s.schedule_id"
    " AND o.distribution_id IS NULL ORDER BY o.number) AS missed_numbers"
    " FROM {schedules} s WHERE s.schedule_id = %s")


def _utc(moment: datetime | None) -> datetime | None:
    """As the ledger holds it: PostgreSQL answers in the session's time zone."""
    return moment.astimezone(UTC) if moment is not None else None


def _summary(row: Row) -> dict[str, Any]:
    """A schedules row as the fields of app.schedules.Schedule."""
    return {**{name: row[name] for name in _SUMMARY},
            "rule": {"kind": row["rule_kind"], "value": row["rule_value"]},
            "cadence": {"recurrence": row["recurrence"], "start": _utc(row["cadence_start"]),
                        "end": _utc(row["cadence_end"]), "count": row["cadence_count"],
                        "trigger": row["trigger"]}}


async def _schedule_page(reads: ReadModels, asset_id: UUID | None, after: int,
                         limit: int) -> bytes:
    by_asset = [] if asset_id is None else [asset_id]
    where = "created_position > %s" + (" AND asset_id = %s" if by_asset else "")
    query = sql.SQL("SELECT * FROM {} WHERE " + where  # noqa: S608
                    + " ORDER BY created_position LIMIT %s").format(reads.table(VIEW))
    try:
        found = await reads.all(query, [after, *by_asset, limit + 1])
    except UndefinedTable:
        found = []
    more = len(found) > limit
    items = [msgspec.convert(_summary(r), schemas.Schedule) for r in found[:limit]]
    return _encode(schemas.SchedulePage(
        items, rows.encode_cursor(found[limit - 1]["created_position"]) if more else None))


async def _schedule(reads: ReadModels, schedule_id: UUID) -> bytes | None:
    query = sql.SQL(_DETAIL).format(schedules=reads.table(VIEW),
                                    occurrences=reads.table("schedule_occurrences"))
    try:
        row = await reads.one(query, (schedule_id,))
    except UndefinedTable:
        row = None
    if row is None:
        return None
    return _encode(msgspec.convert({**_summary(row), "occurrences": row["occurrences"],
                                    "missed_numbers": row["missed_numbers"]},
                                   schemas.ScheduleDetail))


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
                                  lambda: _schedule_page(reads, asset_id, position, limit))
        return rows.encoded(body)

    @get("/{schedule_id:uuid}", opt={"roles": READ}, operation_id="getSchedule")
    async def get_one(self, request: Request[Any, Any, Any], schedule_id: FromPath[UUID],
                      wait_for_position: Wait = 0) -> Response[schemas.ScheduleDetail]:
        """Status, cadence, and each occurrence: spawned (its distribution) or missed."""
        reads: ReadModels = request.app.state.reads
        await reads.wait_for(wait_for_position, VIEW)
        body = await reads.cached(VIEW, ("one", schedule_id),
                                  lambda: _schedule(reads, schedule_id))
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
