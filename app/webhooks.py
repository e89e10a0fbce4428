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
  what was delivered. The deliverer gives each new outbox event its delivery row (pending)
  as it first sees it, from `webhook_adopted`'s position on, so a pass reads only the pending
  rows (a partial index), never the delivered history; a delivered event's attempts are
  pruned after the retention (MASS_PAYOUT_WEBHOOK_RETENTION_DAYS), its delivery row stays.

- a rotated secret goes into `webhook_secret_versions` under the endpoint's next version
  *before* `SecretRotated` is recorded at that version: the ledger then names which stored
  secret signs, and a rotation that failed half-way leaves only an unused row. The secret it
  replaces keeps signing until the grace period ends (`previous_until`); the one before that
  is erased then, as is the creation's once rotated past.

Signature (Stripe's scheme): `Webhook-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of
"<t>.<body>" under the secret>`; during a rotation's grace period one `v1=` per valid
secret (newest first). Receivers check that one HMAC matches and that `t` is recent.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets as _secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
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
ROTATED = "webhook_secret_versions"
ADOPTED = "webhook_adopted"  # the outbox position up to which every event has a delivery row
SECRET_GRACE = timedelta(hours=24)  # MASS_PAYOUT_WEBHOOK_SECRET_GRACE_HOURS
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


def _mac(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body,
                    hashlib.sha256).hexdigest()


def signature(secrets: str | Sequence[str], timestamp: int, body: bytes) -> str:
    """`t=<timestamp>,v1=<mac>`, one `v1=` per secret (two during a rotation's grace)."""
    keys = [secrets] if isinstance(secrets, str) else list(secrets)
    return ",".join([f"t={timestamp}", *(f"v1={_mac(s, timestamp, body)}" for s in keys)])


def verify(secret: str, header: str, body: bytes, now: float,
           tolerance: int = SIGNATURE_TOLERANCE) -> bool:
    """What a receiver does: one `v1` HMAC matches its secret and the timestamp is recent
    (no replay)."""
    parts = [part.split("=", 1) for part in header.split(",") if "=" in part]
    stamps = [value for key, value in parts if key == "t"]
    try:
        timestamp = int(stamps[0])
    except (IndexError, ValueError):
        return False
    expected = _mac(secret, timestamp, body)
    matched = [hmac.compare_digest(expected, value) for key, value in parts if key == "v1"]
    return abs(now - timestamp) <= tolerance and any(matched)


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
        # Where the event sits in its ordering chain, so the pending heads come from the
        # pending rows alone; the partial indexes keep delivered rows out of every pass.
        sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS ordering_key uuid,"
                " ADD COLUMN IF NOT EXISTS position bigint").format(
            sql.Identifier(v, DELIVERIES)),
        sql.SQL("CREATE INDEX IF NOT EXISTS webhook_deliveries_pending ON {}"
                " (endpoint_id, ordering_key, position, event_id) WHERE status = 'pending'"
                ).format(sql.Identifier(v, DELIVERIES)),
        sql.SQL("CREATE INDEX IF NOT EXISTS webhook_deliveries_delivered ON {}"
                " (delivered_at) WHERE status = 'delivered'").format(
            sql.Identifier(v, DELIVERIES)),
        sql.SQL("CREATE INDEX IF NOT EXISTS webhook_attempts_started ON {} (started_at)"
                ).format(sql.Identifier(v, ATTEMPTS)),
        sql.SQL("CREATE TABLE IF NOT EXISTS {} (single boolean PRIMARY KEY DEFAULT true"
                " CHECK (single), position bigint NOT NULL)").format(
            sql.Identifier(v, ADOPTED)),
        sql.SQL("INSERT INTO {} VALUES (true, 0) ON CONFLICT DO NOTHING").format(
            sql.Identifier(v, ADOPTED)),
        sql.SQL("CREATE TABLE IF NOT EXISTS {} (endpoint_id uuid PRIMARY KEY,"
                " consecutive_failures int NOT NULL)").format(sql.Identifier(v, HEALTH)),
        sql.SQL("CREATE TABLE IF NOT EXISTS {} (endpoint_id uuid NOT NULL, version int NOT NULL,"
                " secret text NOT NULL, created_at timestamptz NOT NULL DEFAULT now(),"
                " PRIMARY KEY (endpoint_id, version))").format(sql.Identifier(v, ROTATED)),
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


@dataclass(frozen=True, slots=True)
class RotatedSecret:
    endpoint_id: UUID
    secret: str  # shown once
    previous_valid_until: datetime  # the replaced secret signs too until then
    position: int


@dataclass
class Webhooks:
    """Endpoint management: the API's and the CLI's one door."""

    ledger: PayoutLedger
    database_url: str
    schema: str
    allow: tuple[str, ...] = ()  # MASS_PAYOUT_WEBHOOK_ALLOW
    secret_grace: timedelta = SECRET_GRACE

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

    def rotate_secret(self, endpoint_id: UUID, actor: str,
                      now: datetime | None = None) -> RotatedSecret:
        """A new secret, shown once; the current one keeps signing for `secret_grace`."""
        endpoint = self.ledger.get_webhook_endpoint(endpoint_id)  # NotFound → 404
        version, secret = endpoint.version + 1, new_secret()
        until = (now or datetime.now(UTC)) + self.secret_grace
        setup(self.database_url, self.schema)
        table = sql.Identifier(views(self.schema), ROTATED)
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            conn.execute(sql.SQL("INSERT INTO {} (endpoint_id, version, secret) VALUES"
                                 " (%s, %s, %s) ON CONFLICT (endpoint_id, version) DO UPDATE"
                                 " SET secret = excluded.secret").format(table),
                         (endpoint_id, version, secret))
        position = self.ledger.rotate_webhook_secret(endpoint_id, version=version, actor=actor,
                                                     previous_until=until)
        # Secrets older than the one still in its grace period never sign again: erase them.
        previous = endpoint.secret_version
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DELETE FROM {} WHERE endpoint_id = %s AND version < %s"
                                 ).format(table), (endpoint_id, previous))
            if previous > 1:
                conn.execute(sql.SQL("UPDATE {} SET secret = '' WHERE endpoint_id = %s").format(
                    sql.Identifier(views(self.schema), SECRETS)), (endpoint_id,))
        return RotatedSecret(endpoint_id, secret, until, position)


def load_secret(conn: psycopg.Connection[Any], schema: str, endpoint_id: UUID,
                version: int = 1) -> str:
    """The secret of `version` (1: the creation's; n: stored for the rotation recorded at
    the endpoint's version n)."""
    v = views(schema)
    row = conn.execute(sql.SQL(
        "SELECT secret FROM {} WHERE endpoint_id = %s AND %s = 1 UNION ALL"
        " SELECT secret FROM {} WHERE endpoint_id = %s AND version = %s").format(
        sql.Identifier(v, SECRETS), sql.Identifier(v, ROTATED)),
        (endpoint_id, version, endpoint_id, version)).fetchone()
    if row is None or not (row["secret"] if isinstance(row, dict) else row[0]):
        raise NotFound(f"webhook endpoint {endpoint_id} has no secret {version}")
    secret = str(row["secret"] if isinstance(row, dict) else row[0])
    register_secret(secret)  # never in a log line of this process
    return secret


def secret_of(database_url: str, schema: str, endpoint_id: UUID, version: int = 1) -> str:
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        return load_secret(conn, schema, endpoint_id, version)
