"""Webhook endpoints: the management use-cases, the signing scheme, and the tables that hold
what the event log must not (secrets) or cannot (delivery outcomes).

Where things live, and why:
- the endpoint itself (url, types, active, who changed it) is a `WebhookEndpoint` in the
  ledger; the `webhooks` projection keeps a row of it and derives the outbox from the log;
- the signing secret is in `<schema>_views.webhook_secrets`, beside the API keys. It must be
  recoverable to sign (HMAC), so it is stored as is, never hashed; it is shown once, at
  creation, and never logged (`app.redaction.register` when a process loads it). It is stored
  *before* the endpoint's first event, under the id the endpoint will have, so an endpoint
  never exists without its secret (an orphan secret of a failed creation is harmless);
- delivery outcomes (`webhook_deliveries`, one row per webhook event; `webhook_attempts`,
  one per try) are not a projection's: a rebuild of the outbox finds the same event ids
  (uuid5 of the endpoint and the ledger event) and so the same outcomes, and never re-sends
  what was delivered.

Signature (Stripe's scheme): `Webhook-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of
"<t>.<body>" under the secret>`; receivers check the HMAC and that `t` is recent.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets as _secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid4, uuid5

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from app.ledger import PayoutLedger
from app.redaction import register as register_secret
from domain.errors import NotFound
from domain.webhooks import check_types, check_url

ENDPOINTS, OUTBOX, BATCHES = "webhook_endpoints", "webhook_events", "webhook_batches"
SECRETS, DELIVERIES, ATTEMPTS = "webhook_secrets", "webhook_deliveries", "webhook_attempts"
HEALTH = "webhook_endpoint_health"
SECRET_PREFIX = "whsec_"  # noqa: S105  # a prefix, not a secret
SIGNATURE_TOLERANCE = 300  # seconds a receiver should accept a timestamp for


def views(schema: str) -> str:
    """The read models' schema (as projections.store.views_schema names it)."""
    return f"{schema}_views"


def event_id(endpoint_id: UUID, originator_id: UUID, originator_version: int) -> UUID:
    """One webhook event per (endpoint, ledger event): a replay derives the same id."""
    return uuid5(endpoint_id, f"{originator_id}/{originator_version}")


def new_secret() -> str:
    return SECRET_PREFIX + _secrets.token_urlsafe(32)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret: str, header: str, body: bytes, now: float,
           tolerance: int = SIGNATURE_TOLERANCE) -> bool:
    """What a receiver does: the HMAC matches and the timestamp is recent (no replay)."""
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    expected = signature(secret, timestamp, body).split("v1=", 1)[1]
    return abs(now - timestamp) <= tolerance and hmac.compare_digest(
        expected, fields.get("v1", ""))


def ddl(schema: str) -> list[sql.Composed]:
    """The tables outside the projection (secrets, outcomes, attempts, endpoint health)."""
    v = views(schema)
    return [
        sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(v)),
        sql.SQL("CREATE TABLE IF NOT EXISTS {} (endpoint_id uuid PRIMARY KEY,"
                " secret text NOT NULL, created_at timestamptz NOT NULL DEFAULT now())"
                ).format(sql.Identifier(v, SECRETS)),
        sql.SQL("CREATE TABLE IF NOT EXISTS {} (event_id uuid PRIMARY KEY,"
                " endpoint_id uuid NOT NULL, status text NOT NULL, attempts int NOT NULL,"
                " first_attempt_at timestamptz, next_attempt_at timestamptz NOT NULL,"
                " last_status int, last_latency_ms int, last_error text,"
                " delivered_at timestamptz, updated_at timestamptz NOT NULL)"
                ).format(sql.Identifier(v, DELIVERIES)),
        sql.SQL("CREATE INDEX IF NOT EXISTS webhook_deliveries_endpoint ON {}"
                " (endpoint_id, updated_at)").format(sql.Identifier(v, DELIVERIES)),
        sql.SQL("CREATE TABLE IF NOT EXISTS {} (event_id uuid NOT NULL, attempt int NOT NULL,"
                " endpoint_id uuid NOT NULL, started_at timestamptz NOT NULL,"
                " status_code int, latency_ms int NOT NULL, response text NOT NULL,"
                " error text, PRIMARY KEY (event_id, attempt))").format(
            sql.Identifier(v, ATTEMPTS)),
        sql.SQL("CREATE TABLE IF NOT EXISTS {} (endpoint_id uuid PRIMARY KEY,"
                " consecutive_failures int NOT NULL)").format(sql.Identifier(v, HEALTH)),
    ]


def setup(database_url: str, schema: str) -> None:
    """Idempotent; every process that touches webhooks runs it at start."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        for statement in ddl(schema):
            conn.execute(statement)


@dataclass(frozen=True, slots=True)
class CreatedEndpoint:
    endpoint_id: UUID
    secret: str  # shown once
    position: int


@dataclass
class Webhooks:
    """Endpoint management: the API's and the CLI's one door."""

    ledger: PayoutLedger
    database_url: str
    schema: str
    allow: tuple[str, ...] = ()  # MASS_PAYOUT_WEBHOOK_ALLOW

    def create(self, *, url: str, event_types: Iterable[str], description: str,
               actor: str) -> CreatedEndpoint:
        endpoint_id, secret = uuid4(), new_secret()
        types = list(event_types)
        check_url(url, self.allow)
        check_types(types)
        setup(self.database_url, self.schema)
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            conn.execute(sql.SQL("INSERT INTO {} (endpoint_id, secret) VALUES (%s, %s)").format(
                sql.Identifier(views(self.schema), SECRETS)), (endpoint_id, secret))
        self.ledger.create_webhook_endpoint(endpoint_id, url=url, event_types=types,
                                            description=description, actor=actor,
                                            allow=self.allow)
        return CreatedEndpoint(endpoint_id, secret, self.ledger.recorder.max_notification_id()
                               or 0)

    def update(self, endpoint_id: UUID, *, actor: str, url: str | None = None,
               event_types: list[str] | None = None, description: str | None = None) -> int:
        return self.ledger.update_webhook_endpoint(
            endpoint_id, actor=actor, url=url, event_types=event_types,
            description=description, allow=self.allow)

    def disable(self, endpoint_id: UUID, actor: str, reason: str = "") -> int:
        return self.ledger.disable_webhook_endpoint(endpoint_id, actor, reason)

    def enable(self, endpoint_id: UUID, actor: str) -> int:
        return self.ledger.enable_webhook_endpoint(endpoint_id, actor)


def load_secret(conn: psycopg.Connection[Any], schema: str, endpoint_id: UUID) -> str:
    row = conn.execute(sql.SQL("SELECT secret FROM {} WHERE endpoint_id = %s").format(
        sql.Identifier(views(schema), SECRETS)), (endpoint_id,)).fetchone()
    if row is None:
        raise NotFound(f"webhook endpoint {endpoint_id} has no secret")
    secret = str(row["secret"] if isinstance(row, dict) else row[0])
    register_secret(secret)  # never in a log line of this process
    return secret


def secret_of(database_url: str, schema: str, endpoint_id: UUID) -> str:
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        return load_secret(conn, schema, endpoint_id)
