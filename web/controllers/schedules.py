"""Schedules: the list, a schedule's page with the occurrences it spawned, the form that
defines one, and approve / pause / resume / cancel by role.

Reads are the API's (`api.controllers.schedules`: the same queries through the same cache);
the form becomes the API's `ScheduleCreate` with `msgspec.convert` (so its constraints apply)
and goes through `app.commands.define_schedule`, as POST /schedules does; amounts typed in
human units become smallest units with the payment token's decimals (`web.forms.to_units`).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, FromQuery, QueryParameter
from litestar.response import Template
from psycopg import sql

from api import queries as api_queries
from api import rows, schemas, writes
from api.controllers.schedules import VIEW
from api.keys import APPROVE, OPERATE
from api.problems import Problem
from api.reads import ReadModels
from domain import accounts
from domain.actors import same_principal
from domain.errors import InvalidAccount, InvalidInput
from domain.recurrence import occurrence_at
from domain.schedule import SCHEDULE_TERMINAL, MissedPolicy, ScheduleStatus
from domain.terms import DistributionKind, Recurrence, RuleKind
from web.auth import session_of
from web.forms import FORM, field_errors, lines, to_units
from web.render import page

Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]
PAGE = 50
After = Annotated[int, QueryParameter(ge=0, le=2**62)]
ON_ACTIONS = "ON_CORPORATE_ACTION_DATE"
FIELDS = {"$.asset_id": "asset_id", "$.kind": "kind", "$.rule.kind": "rule_kind",
          "$.rule.value": "amount", "$.rule": "amount", "$.cadence.recurrence": "cadence",
          "$.cadence.start": "start", "$.cadence.end": "end", "$.cadence.count": "count",
          "$.cadence": "cadence", "$.missed_policy": "missed_policy",
          "$.misfire_grace_seconds": "misfire_grace_seconds",
          "$.withholding_bps": "withholding", "$.excluded": "excluded",
          "$.minimum_payout": "minimum_payout", "$.concept": "concept"}
HINTS = (("excluded", "excluded"), ("exclu", "excluded"), ("withholding", "withholding"),
         ("minimum", "minimum_payout"), ("count", "count"), ("end", "end"),
         ("start", "start"), ("recurrence", "cadence"), ("cadence", "cadence"),
         ("misfire", "misfire_grace_seconds"), ("rule", "amount"), ("amount", "amount"),
         ("paused", FORM), ("asset", "asset_id"), ("date", "start"))
TEXT_FIELDS = ("asset_id", "kind", "rule_kind", "amount", "cadence", "start", "end", "count",
               "missed_policy", "misfire_grace_seconds", "withholding", "excluded",
               "minimum_payout", "concept", "key")


async def _assets(reads: ReadModels) -> dict[UUID, schemas.Asset]:
    """Every asset by id (names and payment decimals for the schedules shown)."""
    found = await reads.all(sql.SQL("SELECT * FROM {} ORDER BY name, asset_id").format(
        reads.table("assets")))
    return {r["asset_id"]: rows.asset(r) for r in found}


async def schedule_page(reads: ReadModels, after: int, limit: int = PAGE
                        ) -> schemas.SchedulePage:
    """listSchedules' page, through the API's cache."""
    body = await reads.cached(VIEW, ("list", None, after, limit),
                              lambda: api_queries.schedule_page(reads, None, after, limit))
    return msgspec.json.decode(body, type=schemas.SchedulePage)


async def schedule_detail(reads: ReadModels, schedule_id: UUID) -> schemas.ScheduleDetail:
    """getSchedule's body, through the API's cache; 404 for an unknown schedule."""
    body = await reads.cached(VIEW, ("one", schedule_id),
                              lambda: api_queries.schedule_body(reads, schedule_id))
    if body is None:
        raise Problem(404, "not-found", f"no schedule {schedule_id}")
    return msgspec.json.decode(body, type=schemas.ScheduleDetail)


def next_occurrence(s: schemas.Schedule) -> datetime | None:
    """When the next occurrence falls due (None: none left, or corporate actions decide)."""
    c = s.cadence
    if s.status in SCHEDULE_TERMINAL or c.recurrence is None or c.start is None:
        return None
    if c.count is not None and s.next_number >= c.count:
        return None
    due = occurrence_at(c.recurrence, c.start, s.next_number)
    return None if c.end is not None and due >= c.end else due


def due_at(s: schemas.Schedule, number: int) -> datetime | None:
    c = s.cadence
    return occurrence_at(c.recurrence, c.start, number) if c.recurrence and c.start else None


def _moment(text: str, field: str) -> datetime | None:
    """A `datetime-local` value (UTC, as the panel shows every time) or an ISO 8601 time."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise _Refused(field, f"{text!r} is not a date and time (YYYY-MM-DD HH:MM, UTC)"
                       ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


class _Refused(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _whole(text: str, field: str, label: str) -> int | None:
    if not text:
        return None
    if not (text.isascii() and text.isdigit()):
        raise _Refused(field, f"{label}: a whole number")
    return int(text)


def build(values: dict[str, str], asset: schemas.Asset | None) -> schemas.ScheduleCreate:
    """The API's body from the form: human units become smallest units; a bad field raises
    `_Refused` or msgspec's ValidationError (mapped onto the form by FIELDS)."""
    if asset is None:
        raise _Refused("asset_id", "choose an asset")
    body: dict[str, Any] = {"asset_id": str(asset.asset_id), "kind": values["kind"],
                            "missed_policy": values["missed_policy"] or "RUN_LATEST",
                            "concept": values["concept"]}
    if values["cadence"] == ON_ACTIONS:
        body["cadence"] = {"trigger": ON_ACTIONS}
    else:
        body["cadence"] = _cadence(values)
        kind = values["rule_kind"]
        # PERCENTAGE is basis points of the vault: a percent with two decimals is exact bps.
        decimals = 2 if kind == RuleKind.PERCENTAGE else asset.payment_decimals
        body["rule"] = {"kind": kind, "value": str(_units(values, "amount", decimals))}
    grace = _whole(values["misfire_grace_seconds"], "misfire_grace_seconds", "seconds")
    if grace is not None:
        body["misfire_grace_seconds"] = grace
    if values["withholding"]:
        body["withholding_bps"] = _units(values, "withholding", 2)
    if values["minimum_payout"]:
        body["minimum_payout"] = str(_units(values, "minimum_payout", asset.payment_decimals))
    excluded = []
    for line in lines(values["excluded"]):
        try:
            excluded.append(accounts.canonical(line))
        except InvalidAccount as bad:
            raise _Refused("excluded", str(bad)) from None
    body["excluded"] = excluded
    return msgspec.convert(body, schemas.ScheduleCreate)


def _cadence(values: dict[str, str]) -> dict[str, Any]:
    cadence: dict[str, Any] = {"recurrence": values["cadence"] or None,
                               "start": _moment(values["start"], "start")}
    if cadence["start"] is None:
        raise _Refused("start", "give the first occurrence's date and time")
    if values["count"] and values["end"]:
        raise _Refused("count", "give a number of occurrences or an end, not both")
    if values["count"]:
        cadence["count"] = _whole(values["count"], "count", "occurrences")
    elif values["end"]:
        cadence["end"] = _moment(values["end"], "end")
    else:
        raise _Refused("count", "give a number of occurrences or an end")
    return cadence


def _units(values: dict[str, str], field: str, decimals: int) -> int:
    try:
        return to_units(values[field], decimals)
    except ValueError as bad:
        prefix = "a percentage: " if field == "withholding" else ""
        raise _Refused(field, prefix + str(bad)) from None


class SchedulePanel(Controller):
    path = "/schedules"
    include_in_schema = False

    @get("/")
    async def list_(self, request: Request[Any, Any, Any],
                    after: After = 0) -> Template:
        return page(request, "schedules.html", **await _listing(request, after))

    @get("/fragments/table")
    async def table(self, request: Request[Any, Any, Any],
                    after: After = 0) -> Template:
        return page(request, "_schedules_table.html", **await _listing(request, after))

    @get("/new", opt={"panel_roles": OPERATE})
    async def new(self, request: Request[Any, Any, Any],
                  asset_id: FromQuery[UUID | None] = None) -> Template:
        values = dict.fromkeys(TEXT_FIELDS, "")
        values.update(asset_id=str(asset_id or ""), kind="DIVIDEND", rule_kind="PRO_RATA",
                      cadence="MONTHLY", missed_policy="RUN_LATEST",
                      misfire_grace_seconds="60", key=str(uuid.uuid4()))
        return await _form(request, values, {})

    @post("/new", opt={"panel_roles": OPERATE}, status_code=201)
    async def create(self, request: Request[Any, Any, Any], data: Form) -> Response[Any]:
        values = {name: data.get(name, "").strip() for name in TEXT_FIELDS}
        values["excluded"] = data.get("excluded", "")
        state = request.app.state
        assets = await _assets(state.reads)
        try:
            asset = assets.get(UUID(values["asset_id"])) if values["asset_id"] else None
        except ValueError:
            asset = None
        key = values["key"] or str(uuid.uuid4())
        try:
            body = build(values, asset)
            sid, position, _ = await writes.call(
                writes.define_schedule, state.ledger, body, key,
                session_of(request).principal.actor)
        except _Refused as refused:
            return await _form(request, values, {refused.field: str(refused)}, assets, 422)
        except (msgspec.ValidationError, InvalidInput) as refused:
            return await _form(request, values, field_errors(refused, FIELDS, HINTS), assets,
                               422)
        await state.reads.wait_for(position, VIEW)  # the page it goes to shows it
        return Response("", status_code=201, headers={"HX-Redirect": f"/panel/schedules/{sid}"})

    @get("/{schedule_id:uuid}")
    async def one(self, request: Request[Any, Any, Any], schedule_id: FromPath[UUID]) -> Template:
        return page(request, "schedule.html", **await _detail(request, schedule_id))

    @get("/{schedule_id:uuid}/fragments/detail")
    async def detail(self, request: Request[Any, Any, Any],
                     schedule_id: FromPath[UUID]) -> Template:
        return page(request, "_schedule.html", **await _detail(request, schedule_id))

    @post("/{schedule_id:uuid}/approve", opt={"panel_roles": APPROVE}, status_code=200)
    async def approve(self, request: Request[Any, Any, Any],
                      schedule_id: FromPath[UUID]) -> Template:
        ledger = request.app.state.ledger
        position = await writes.call(ledger.approve_schedule, schedule_id,
                                     session_of(request).principal.actor)
        return await _after(request, schedule_id, position)

    @post("/{schedule_id:uuid}/pause", opt={"panel_roles": OPERATE}, status_code=200)
    async def pause(self, request: Request[Any, Any, Any], schedule_id: FromPath[UUID],
                    data: Form) -> Template:
        reason = _reason(data, required=False)
        ledger = request.app.state.ledger
        position = await writes.call(ledger.pause_schedule, schedule_id,
                                     session_of(request).principal.actor, reason)
        return await _after(request, schedule_id, position)

    @post("/{schedule_id:uuid}/resume", opt={"panel_roles": OPERATE}, status_code=200)
    async def resume(self, request: Request[Any, Any, Any],
                     schedule_id: FromPath[UUID]) -> Template:
        ledger = request.app.state.ledger
        position = await writes.call(ledger.resume_schedule, schedule_id,
                                     session_of(request).principal.actor)
        return await _after(request, schedule_id, position)

    @post("/{schedule_id:uuid}/cancel", opt={"panel_roles": APPROVE}, status_code=200)
    async def cancel(self, request: Request[Any, Any, Any], schedule_id: FromPath[UUID],
                     data: Form) -> Template:
        reason = _reason(data, required=True)
        ledger = request.app.state.ledger
        position = await writes.call(ledger.cancel_schedule, schedule_id,
                                     session_of(request).principal.actor, reason)
        return await _after(request, schedule_id, position)


def _reason(data: dict[str, str], *, required: bool) -> str:
    reason = data.get("reason", "").strip()
    if required and not reason:
        raise InvalidInput("give a reason for cancelling")
    if len(reason) > 500:
        raise InvalidInput("a reason is at most 500 characters")
    return reason


async def _after(request: Request[Any, Any, Any], schedule_id: UUID, position: int) -> Template:
    await request.app.state.reads.wait_for(position, VIEW)
    return page(request, "_schedule.html", **await _detail(request, schedule_id))


async def _listing(request: Request[Any, Any, Any], after: int) -> dict[str, Any]:
    reads = request.app.state.reads
    found = await schedule_page(reads, after)
    cursor = rows.decode_cursor(found.next_cursor, 1) if found.next_cursor else None
    next_after = int(cursor[0]) if cursor else None
    return {"schedules": [(s, next_occurrence(s)) for s in found.items],
            "assets": await _assets(reads), "after": after, "next_after": next_after}


async def _detail(request: Request[Any, Any, Any], schedule_id: UUID) -> dict[str, Any]:
    reads = request.app.state.reads
    s = await schedule_detail(reads, schedule_id)
    asset = (await _assets(reads)).get(s.asset_id)
    me = session_of(request).principal
    return {"s": s, "asset": asset, "next_due": next_occurrence(s),
            "occurrences": [(o, due_at(s, o.number)) for o in reversed(s.occurrences)],
            "is_maker": same_principal(me.actor, s.created_by),
            "rule_decimals": 2 if s.rule.kind == RuleKind.PERCENTAGE
            else (asset.payment_decimals if asset else 0),
            "terminal": s.status in SCHEDULE_TERMINAL}


async def _form(request: Request[Any, Any, Any], values: dict[str, str], errors: dict[str, str],
                assets: dict[UUID, schemas.Asset] | None = None,
                status_code: int = 200) -> Template:
    if assets is None:
        assets = await _assets(request.app.state.reads)
    fragment = request.headers.get("hx-request") == "true"
    return page(request, "_schedule_form.html" if fragment else "schedule_new.html",
                status_code=status_code, values=values, errors=errors,
                assets=list(assets.values()),
                kinds=[k.value for k in DistributionKind],
                rule_kinds=[k.value for k in RuleKind if k is not RuleKind.RATE],
                recurrences=[r.value for r in Recurrence], on_actions=ON_ACTIONS,
                policies=[p.value for p in MissedPolicy], statuses=ScheduleStatus)
