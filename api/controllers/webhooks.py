"""Webhook endpoints (admin only): register (the secret is shown once), list, inspect,
change, disable, enable, rotate the secret (the new one shown once); each endpoint's
delivery log and manual redelivery.

Endpoints are events in the ledger (app.webhooks); reads come from the `webhook_events`
projection's endpoint rows and the deliverer's outcome tables. `wait_for_position` gives
read-your-writes as on the other resources. Destinations that are not public are refused
(422) unless MASS_PAYOUT_WEBHOOK_ALLOW lists them (`app.state.webhook_allow`, set by
`runtime.bootstrap.build_api`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec
from litestar import Controller, Request, get, patch, post
from litestar.params import FromPath, JSONBody
from psycopg import sql
from psycopg.errors import UndefinedTable

from api import rows, writes
from api.auth import principal_of
from api.keys import Role
from api.params import Cursor, Limit, Wait
from api.problems import Problem
from api.reads import ReadModels
from api.schemas import Written
from app.webhook_delivery import mark_for_redelivery, mark_range_for_redelivery
from app.webhooks import ATTEMPTS, DELIVERIES, ENDPOINTS, OUTBOX, SECRET_GRACE, Webhooks
from domain.webhooks import EVENT_TYPES

ADMIN = frozenset({Role.ADMIN})
VIEW = OUTBOX  # the projection's name
MAX_POSITION = 2**62
EventType = Literal[
    "ingestion.halted",
    "distribution.created", "distribution.approved", "distribution.committed",
    "distribution.executing", "distribution.completed", "distribution.completed_with_failures",
    "distribution.waiting_for_funds", "distribution.cancelled", "distribution.expired",
    "batch.blocked", "holder_payments.failed",
    "schedule.occurrence_spawned", "schedule.occurrences_missed",
    "reconciliation.mismatch"]
Url = Annotated[str, msgspec.Meta(min_length=1, max_length=2_000,
                                  description="http(s); private, loopback and link-local"
                                              " destinations are refused unless allowed")]
Description = Annotated[str, msgspec.Meta(max_length=500)]
Types = Annotated[list[EventType], msgspec.Meta(min_length=1, max_length=len(EVENT_TYPES))]


class WebhookCreate(msgspec.Struct):
    url: Url
    event_types: Types
    description: Description = ""


class WebhookUpdate(msgspec.Struct):
    """Only what is given changes. (Unknown fields are ignored, not refused:
    api.docs.document_strict_bodies documents strictness for api.schemas' Structs only.)"""

    url: Url | None = None
    event_types: Types | None = None
    description: Description | None = None


class WebhookCreated(msgspec.Struct):
    endpoint_id: UUID
    secret: str  # shown this once: store it to verify signatures
    position: int


class SecretRotation(msgspec.Struct):
    endpoint_id: UUID
    secret: str  # shown this once: the new signing secret
    previous_secret_valid_until: datetime  # deliveries carry both signatures until then
    position: int


class Webhook(msgspec.Struct):
    endpoint_id: UUID
    url: str
    event_types: list[str]
    description: str
    active: bool
    disabled_reason: str
    created_by: str
    updated_by: str
    created_at: datetime
    updated_at: datetime


class WebhookPage(msgspec.Struct):
    items: list[Webhook]
    next_cursor: str | None


class Attempt(msgspec.Struct):
    attempt: int
    started_at: datetime
    status_code: int | None
    latency_ms: int
    error: str | None
    response: str  # at most 300 bytes


class Delivery(msgspec.Struct):
    event_id: UUID
    type: str
    created_at: datetime
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    last_status: int | None
    last_latency_ms: int | None
    attempt_log: list[Attempt]


class DeliveryPage(msgspec.Struct):
    items: list[Delivery]
    next_cursor: str | None


class Redelivery(msgspec.Struct):
    event_id: UUID


class RedeliveryRange(msgspec.Struct):
    since: datetime  # events recorded at or after this
    until: datetime | None = None  # ... and before this (None: up to now)
    only_failed: bool = False  # only the ones given up


class Redeliveries(msgspec.Struct):
    events: int  # how many were made due again


def _service(request: Request[Any, Any, Any]) -> Webhooks:
    reads: ReadModels = request.app.state.reads
    allow = tuple(getattr(request.app.state, "webhook_allow", ()) or ())
    grace = getattr(request.app.state, "webhook_secret_grace", None) or SECRET_GRACE
    return Webhooks(request.app.state.ledger, reads.database_url, reads.schema, allow, grace)


def _after(cursor: str | None) -> int:
    after = rows.decode_cursor(cursor, 1)
    if after is None:
        return 0
    if not (after[0].isascii() and after[0].isdigit() and int(after[0]) < MAX_POSITION):
        raise Problem(400, "bad-cursor", "the cursor is not one this API issued")
    return int(after[0])


async def _endpoints(reads: ReadModels, where: str, params: list[Any]) -> list[dict[str, Any]]:
    query = sql.SQL("SELECT * FROM {} WHERE " + where  # noqa: S608  # a fixed clause
                    + " ORDER BY created_position LIMIT %s").format(reads.table(ENDPOINTS))
    try:
        return await reads.all(query, params)
    except UndefinedTable:
        return []


def _webhook(row: dict[str, Any]) -> Webhook:
    return msgspec.convert({k: row[k] for k in Webhook.__struct_fields__}, Webhook)


class WebhookController(Controller):
    path = "/webhooks"
    tags = ["webhooks"]  # noqa: RUF012  # Litestar declares it a list

    @post("/", opt={"roles": ADMIN}, operation_id="createWebhook", status_code=201)
    async def create(self, request: Request[Any, Any, Any],
                     data: JSONBody[WebhookCreate]) -> WebhookCreated:
        """Register an endpoint. The answer holds its signing secret, shown this once:
        each delivery carries `Webhook-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of
        "<t>.<body>">` under it (Stripe's scheme; check `t` is recent)."""
        made = await writes.call(_service(request).create, url=data.url,
                                 event_types=list(data.event_types),
                                 description=data.description,
                                 actor=principal_of(request).actor)
        return WebhookCreated(made.endpoint_id, made.secret, made.position)

    @get("/", opt={"roles": ADMIN}, operation_id="listWebhooks")
    async def list_(self, request: Request[Any, Any, Any], cursor: Cursor = None,
                    limit: Limit = 50, wait_for_position: Wait = 0) -> WebhookPage:
        """In the order they were registered; never their secrets."""
        after = _after(cursor)
        reads: ReadModels = request.app.state.reads
        await reads.wait_for(wait_for_position, VIEW)
        found = await _endpoints(reads, "created_position > %s", [after, limit + 1])
        more = len(found) > limit
        return WebhookPage([_webhook(r) for r in found[:limit]],
                           rows.encode_cursor(found[limit - 1]["created_position"])
                           if more else None)

    @get("/{endpoint_id:uuid}", opt={"roles": ADMIN}, operation_id="getWebhook")
    async def get_one(self, request: Request[Any, Any, Any], endpoint_id: FromPath[UUID],
                      wait_for_position: Wait = 0) -> Webhook:
        """Its URL, event types, description, and whether it is active (and why not)."""
        reads: ReadModels = request.app.state.reads
        await reads.wait_for(wait_for_position, VIEW)
        found = await _endpoints(reads, "endpoint_id = %s", [endpoint_id, 1])
        if not found:
            raise Problem(404, "not-found", f"no webhook endpoint {endpoint_id}")
        return _webhook(found[0])

    @patch("/{endpoint_id:uuid}", opt={"roles": ADMIN}, operation_id="updateWebhook")
    async def update(self, request: Request[Any, Any, Any], endpoint_id: FromPath[UUID],
                     data: JSONBody[WebhookUpdate]) -> Written:
        """Change the URL, the event types or the description (position 0: nothing
        changed). The secret stays."""
        return Written(await writes.call(
            _service(request).update, endpoint_id, actor=principal_of(request).actor,
            url=data.url, description=data.description,
            event_types=None if data.event_types is None else list(data.event_types)))

    @post("/{endpoint_id:uuid}/disable", opt={"roles": ADMIN}, operation_id="disableWebhook",
          status_code=200)
    async def disable(self, request: Request[Any, Any, Any],
                      endpoint_id: FromPath[UUID]) -> Written:
        """Nothing is sent to it until it is enabled; its events wait."""
        return Written(await writes.call(_service(request).disable, endpoint_id,
                                         principal_of(request).actor, "disabled by an admin"))

    @post("/{endpoint_id:uuid}/enable", opt={"roles": ADMIN}, operation_id="enableWebhook",
          status_code=200)
    async def enable(self, request: Request[Any, Any, Any],
                     endpoint_id: FromPath[UUID]) -> Written:
        """Deliveries resume, oldest first."""
        return Written(await writes.call(_service(request).enable, endpoint_id,
                                         principal_of(request).actor))

    @post("/{endpoint_id:uuid}/rotate-secret", opt={"roles": ADMIN},
          operation_id="rotateWebhookSecret", status_code=200)
    async def rotate_secret(self, request: Request[Any, Any, Any],
                            endpoint_id: FromPath[UUID]) -> SecretRotation:
        """A new signing secret, shown this once. Until `previous_secret_valid_until`
        (MASS_PAYOUT_WEBHOOK_SECRET_GRACE_HOURS, 24 by default) each delivery carries a
        `v1=` signature under each secret, so a receiver switches without losing one; then
        only the new one signs. The rotation is recorded (who, when), never the secret."""
        made = await writes.call(_service(request).rotate_secret, endpoint_id,
                                 principal_of(request).actor)
        return SecretRotation(made.endpoint_id, made.secret, made.previous_valid_until,
                              made.position)

    @get("/{endpoint_id:uuid}/deliveries", opt={"roles": ADMIN},
         operation_id="listWebhookDeliveries")
    async def deliveries(self, request: Request[Any, Any, Any], endpoint_id: FromPath[UUID],
                         cursor: Cursor = None, limit: Limit = 50,
                         wait_for_position: Wait = 0) -> DeliveryPage:
        """The endpoint's events, newest first: status, attempts (status code, latency, the
        response's first 300 bytes), and when the next retry is due."""
        before = _after(cursor) or MAX_POSITION
        reads: ReadModels = request.app.state.reads
        await reads.wait_for(wait_for_position, VIEW)
        query = sql.SQL(
            "SELECT o.event_id, o.type, o.created_at, o.position,"
            " coalesce(d.status, 'pending') AS status, coalesce(d.attempts, 0) AS attempts,"
            " CASE WHEN coalesce(d.status, 'pending') = 'pending'"
            " THEN coalesce(d.next_attempt_at, o.created_at) END AS next_attempt_at,"
            " d.delivered_at, d.last_status, d.last_latency_ms,"
            " coalesce((SELECT json_agg(json_build_object('attempt', a.attempt, 'started_at',"
            " a.started_at, 'status_code', a.status_code, 'latency_ms', a.latency_ms,"
            " 'error', a.error, 'response', a.response) ORDER BY a.attempt) FROM {a} a"
            " WHERE a.event_id = o.event_id), '[]') AS attempt_log"
            " FROM {o} o LEFT JOIN {d} d ON d.event_id = o.event_id"
            " WHERE o.endpoint_id = %s AND o.position < %s ORDER BY o.position DESC,"
            " o.event_id LIMIT %s").format(o=reads.table(OUTBOX), d=reads.table(DELIVERIES),
                                           a=reads.table(ATTEMPTS))
        try:
            found = await reads.all(query, [endpoint_id, before, limit + 1])
        except UndefinedTable:
            found = []
        if not found and not await _endpoints(reads, "endpoint_id = %s", [endpoint_id, 1]):
            raise Problem(404, "not-found", f"no webhook endpoint {endpoint_id}")
        more = len(found) > limit
        items = [msgspec.convert({k: r[k] for k in Delivery.__struct_fields__}, Delivery)
                 for r in found[:limit]]
        return DeliveryPage(items, rows.encode_cursor(found[limit - 1]["position"])
                            if more else None)

    @post("/{endpoint_id:uuid}/deliveries/{event_id:uuid}/redeliver", opt={"roles": ADMIN},
          operation_id="redeliverWebhook", status_code=202)
    async def redeliver(self, request: Request[Any, Any, Any], endpoint_id: FromPath[UUID],
                        event_id: FromPath[UUID]) -> Redelivery:
        """Send this event again, with the same id, as soon as the deliverer runs (and
        after any earlier event of its distribution still pending)."""
        reads: ReadModels = request.app.state.reads
        await writes.call(mark_for_redelivery, reads.database_url, reads.schema,
                          endpoint_id, event_id)
        return Redelivery(event_id)

    @post("/{endpoint_id:uuid}/deliveries/redeliver", opt={"roles": ADMIN},
          operation_id="redeliverWebhookRange", status_code=202)
    async def redeliver_range(self, request: Request[Any, Any, Any],
                              endpoint_id: FromPath[UUID],
                              data: JSONBody[RedeliveryRange]) -> Redeliveries:
        """Send again every event recorded in [since, until) (or only those given up), each
        with its own id, oldest first, in order per distribution."""
        ledger = request.app.state.ledger
        await writes.call(ledger.get_webhook_endpoint, endpoint_id)  # 404 if unknown
        reads: ReadModels = request.app.state.reads
        count = await writes.call(mark_range_for_redelivery, reads.database_url, reads.schema,
                                  endpoint_id, since=data.since, until=data.until,
                                  only_failed=data.only_failed)
        return Redeliveries(count)
