"""Delivering the outbox: signed POSTs, retried with backoff, in order, each id at most once
successfully.

The protocol, per webhook event (`Deliverer.deliver`):
1. In one transaction, lock the event's delivery row (created on first sight) with
   `FOR UPDATE SKIP LOCKED`: a second deliverer of the same id (a doubled job, a retry race,
   a redelivery) skips it while the first holds it, and finds it delivered afterwards.
2. Refuse to send out of order: an earlier event of the same distribution (or schedule) to
   the same endpoint that is neither delivered nor given up goes first.
3. Resolve the host and refuse unless every address is public or allowed (DNS can change
   after the URL was checked at creation: rebinding); connect to the address checked, with
   the original Host and TLS server name.
4. POST `{id, type, created_at, data}` with `Webhook-Id`, `Webhook-Timestamp` and
   `Webhook-Signature` (app.webhooks.signature: under the current secret, and the replaced
   one too during a rotation's grace period), within `timeout`.
5. Record the attempt (status, latency, the response's first 300 bytes) and the outcome in
   the same transaction as the lock: 2xx → delivered; otherwise the next attempt at an
   exponential backoff with jitter, or given up once past `give_up_after` (3 days).
A deliverer killed between 4 and 5 recorded nothing: the event is sent again, with the same
id (receivers deduplicate by it). After `disable_after` consecutive failures of an endpoint
it is disabled by an event in the ledger (who: `webhooks`), and at once when the receiver
answers 410 Gone; its events wait (pending) until an admin enables it again. The event, a log
line and the dashboard's "needs a person" (web.attention) are how operators are told.

Who calls `deliver`: `deliver_due` (the `mass-payout webhooks deliver` loop, a thread pool)
or the RQ job `deliver_webhook` (`enqueue_due` queues the due ones with deterministic job
ids). Both only ever pick the head of each ordered chain.
"""

from __future__ import annotations

import collections
import contextlib
import json
import logging
import random
import socket
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from ipaddress import ip_address
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from uuid import UUID

import httpx
import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from app.ledger import PayoutLedger
from app.redaction import redact
from app.webhooks import (
    ADOPTED,
    ATTEMPTS,
    DELIVERIES,
    ENDPOINTS,
    HEALTH,
    OUTBOX,
    load_secret,
    setup,
    signature,
    views,
)
from domain.errors import IllegalTransition, NotFound
from domain.webhooks import Address, address_allowed

log = logging.getLogger(__name__)
RESPONSE_BYTES = 300
GONE = 410  # the receiver says the endpoint is no more: stop at once, keep its events
ACTOR = "webhooks"

Resolve = Callable[[str, int], list[Address]]


def resolve(host: str, port: int) -> list[Address]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(ip_address(str(info[4][0]).split("%")[0]) for info in infos))


# A delivery row, locked, with its event and endpoint, and whether an earlier event of its
# chain must go first: for one event id (`= %s`) or a pass's (`= ANY(%s)`). Every earlier
# event has its delivery row (adopted in position order), so the pending ones answer that.
_LOCKED = ("SELECT d.*, o.type, o.data, o.created_at, o.ordering_key, o.position,"
           " e.url, e.active, e.secret_version, e.previous_version, e.previous_until,"
           " EXISTS (SELECT 1 FROM {d} p WHERE p.status = 'pending'"
           " AND p.endpoint_id = o.endpoint_id AND p.ordering_key = o.ordering_key"
           " AND p.position < o.position) AS earlier_pending"
           " FROM {d} d JOIN {o} o USING (event_id)"
           " JOIN {e} e ON e.endpoint_id = o.endpoint_id WHERE d.event_id ")


class Refused(Exception):
    """The destination resolves to an address deliveries may not reach."""


@dataclass(frozen=True)
class Policy:
    timeout: float = 5.0
    backoff_base: timedelta = timedelta(seconds=10)
    backoff_cap: timedelta = timedelta(hours=6)
    give_up_after: timedelta = timedelta(days=3)
    disable_after: int = 20  # consecutive failed attempts of one endpoint
    allow: tuple[str, ...] = ()  # MASS_PAYOUT_WEBHOOK_ALLOW

    def backoff(self, failures: int, rng: random.Random) -> timedelta:
        """Exponential, capped, with "equal jitter": between half and all of the step."""
        seconds = min(self.backoff_base.total_seconds() * 2.0 ** max(failures - 1, 0),
                      self.backoff_cap.total_seconds())
        return timedelta(seconds=seconds / 2 + seconds / 2 * rng.random())


@dataclass(frozen=True, slots=True)
class Sent:
    status: int | None  # None: no answer (refused, timed out, unreachable)
    response: str  # the answer's first RESPONSE_BYTES
    error: str | None
    latency_ms: int


@dataclass(frozen=True)
class Outcome:
    event_id: UUID
    action: str  # delivered | retry | gave-up | skipped
    detail: str = ""
    status_code: int | None = None


@dataclass
class Deliverer:
    ledger: PayoutLedger
    database_url: str
    schema: str
    policy: Policy = field(default_factory=Policy)
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    resolver: Resolve = resolve
    rng: random.Random = field(default_factory=random.Random)
    pool_size: int = 4

    def __post_init__(self) -> None:
        setup(self.database_url, self.schema)
        # Outcomes are committed without waiting for the WAL flush: a database crash may
        # forget the last outcomes, and those events are then sent again with the same ids,
        # which is the at-least-once contract receivers already honour (they deduplicate by
        # Webhook-Id). Waiting for a flush per delivery capped throughput at ~150/s.
        self.pool: ConnectionPool[Any] = ConnectionPool(
            self.database_url, min_size=1, max_size=self.pool_size, open=True,
            kwargs={"row_factory": dict_row, "connect_timeout": 5,
                    "options": "-c synchronous_commit=off"})
        self.client = httpx.Client(timeout=self.policy.timeout, follow_redirects=False,
                                   trust_env=False)
        self._secrets: dict[tuple[UUID, int], str] = {}
        v = views(self.schema)
        self.t = {name: sql.Identifier(v, name) for name in
                  (ENDPOINTS, OUTBOX, DELIVERIES, ATTEMPTS, HEALTH, ADOPTED)}
        self._q = self._queries()
        self._migrate()

    def _migrate(self) -> None:
        """Delivery rows written before they carried their chain's place get it (once; a
        no-op afterwards): the pending heads are read from delivery rows alone now."""
        # no outbox yet: no delivery row either
        with self.pool.connection() as conn, \
                contextlib.suppress(psycopg.errors.UndefinedTable):
            conn.execute(sql.SQL(
                "UPDATE {d} d SET ordering_key = o.ordering_key, position = o.position"
                " FROM {o} o WHERE o.event_id = d.event_id AND d.position IS NULL").format(
                d=self.t[DELIVERIES], o=self.t[OUTBOX]))

    def _queries(self) -> dict[str, str]:
        """Composed once: composing per delivery cost more than the statements."""
        t = {"d": self.t[DELIVERIES], "o": self.t[OUTBOX], "e": self.t[ENDPOINTS],
             "a": self.t[ATTEMPTS], "h": self.t[HEALTH], "c": self.t[ADOPTED]}
        texts = {
            # every outbox event past the cursor gets its delivery row, pending, in one
            # statement with the cursor's move (GREATEST: two deliverers may race; the
            # projector commits positions in order, so none is ever skipped)
            "adopt": "WITH new AS (SELECT o.event_id, o.endpoint_id, o.ordering_key,"
            " o.position, o.created_at FROM {o} o WHERE o.position > (SELECT position"
            " FROM {c})), added AS (INSERT INTO {d} (event_id, endpoint_id, status, attempts,"
            " next_attempt_at, updated_at, ordering_key, position) SELECT event_id,"
            " endpoint_id, 'pending', 0, created_at, %s, ordering_key, position FROM new"
            " ON CONFLICT DO NOTHING) UPDATE {c} SET position = GREATEST(position,"
            " (SELECT max(position) FROM new)) WHERE EXISTS (SELECT 1 FROM new)",
            # a delivered event's attempts (the response bodies), past the retention
            "prune": "DELETE FROM {a} a WHERE a.started_at < %s AND EXISTS (SELECT 1 FROM {d} d"
            " WHERE d.event_id = a.event_id AND d.status = 'delivered'"
            " AND d.delivered_at < %s)",
            # the head of each chain with something pending, due, its endpoint active
            "due": "WITH heads AS (SELECT DISTINCT ON (d.endpoint_id, d.ordering_key)"
            " d.event_id, d.endpoint_id, d.next_attempt_at AS due_at, d.position FROM {d} d"
            " WHERE d.status = 'pending' AND d.endpoint_id IN"
            " (SELECT endpoint_id FROM {e} WHERE active)"
            " ORDER BY d.endpoint_id, d.ordering_key, d.position, d.event_id)"
            " SELECT event_id FROM heads WHERE due_at <= %s ORDER BY due_at, position LIMIT %s",
            # the row, locked; and whether an earlier event of its chain must go first
            "lock": _LOCKED + "= %s FOR UPDATE OF d SKIP LOCKED",
            "lock_many": _LOCKED + "= ANY(%s) FOR UPDATE OF d SKIP LOCKED",
            # the attempt and the outcome, one statement
            "record": "WITH attempt AS (INSERT INTO {a} VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT DO NOTHING) UPDATE {d} SET status = %s, attempts = %s,"
            " first_attempt_at = %s, next_attempt_at = %s, last_status = %s,"
            " last_latency_ms = %s, last_error = %s,"
            " delivered_at = CASE WHEN %s THEN %s ELSE delivered_at END, updated_at = %s"
            " WHERE event_id = %s",
            "healthy": "UPDATE {h} SET consecutive_failures = 0 WHERE endpoint_id = %s"
            " AND consecutive_failures <> 0",
            "failed": "INSERT INTO {h} AS h VALUES (%s, %s) ON CONFLICT (endpoint_id) DO UPDATE"
            " SET consecutive_failures = h.consecutive_failures + %s"
            " RETURNING consecutive_failures",
            "failed_again": "INSERT INTO {h} AS h VALUES (%s, %s) ON CONFLICT (endpoint_id)"
            " DO UPDATE SET consecutive_failures = %s RETURNING consecutive_failures",
        }
        with psycopg.connect(self.database_url) as conn:
            return {k: sql.SQL(text).format(**t).as_string(conn) for k, text in texts.items()}

    def close(self) -> None:
        self.client.close()
        self.pool.close()

    # --- which events are due ---

    def due(self, limit: int = 100) -> list[UUID]:
        """The head of each (endpoint, distribution) chain, if it is due and its endpoint
        active: the ids a delivery may send now, oldest first.

        New outbox events are adopted first (their delivery rows made); then only pending
        delivery rows are read, through a partial index: a pass costs what is pending, never
        the history delivered (which the old query scanned in full, every pass).
        """
        try:
            with self.pool.connection() as conn:
                self._adopt(conn)
                return [r["event_id"] for r in conn.execute(self._q["due"],
                                                            (self.clock(), limit))]
        except psycopg.errors.UndefinedTable:
            return []  # the projector has not created the outbox yet

    def _adopt(self, conn: Any) -> None:
        conn.execute(self._q["adopt"], (self.clock(),))
        conn.commit()

    def prune(self, retention: timedelta) -> int:
        """Delete the attempts (each try's status, latency and response) of events delivered
        more than `retention` ago; how many. Their delivery rows stay (status, attempts, when
        delivered: the API's delivery log), as do the outbox rows (a projection of the
        ledger: `audit replay` compares them) and the ledger events themselves."""
        cutoff = self.clock() - retention
        with self.pool.connection() as conn:
            return max(int(conn.execute(self._q["prune"], (cutoff, cutoff)).rowcount), 0)

    def deliver_due(self, limit: int = 100, workers: int = 4) -> list[Outcome]:
        """One pass of the delivery loop: every due head, in parallel across chains.

        The pass is one transaction: its rows locked together (SKIP LOCKED, as `deliver`),
        the POSTs sent in parallel, every attempt and outcome recorded together. Round trips
        to the database per delivery, not per pass, had capped the loop (bench webhooks).
        """
        ids = self.due(limit)
        if not ids:
            return []
        outcomes: list[Outcome] = []
        disable: dict[UUID, str] = {}
        with self.pool.connection() as conn, conn.transaction():
            rows = conn.execute(self._q["lock_many"], (ids,)).fetchall()
            now = self.clock()
            held = {r["event_id"] for r in rows}
            outcomes += [Outcome(i, "skipped", "another deliverer holds it")
                         for i in ids if i not in held]
            ready = []
            for row in rows:
                why = self._not_ready(row, now)
                if why:
                    outcomes.append(Outcome(row["event_id"], "skipped", why))
                else:
                    ready.append((row, self._signing(conn, row, now)))
            with ThreadPoolExecutor(max_workers=max(1, min(workers, len(ready)))) as pool:
                sent = list(pool.map(lambda job: self._send(job[0], job[1], now), ready))
            params: list[tuple[Any, ...]] = []
            tally: dict[UUID, list[int]] = collections.defaultdict(lambda: [0, 0])
            for (row, _), result in zip(ready, sent, strict=True):
                outcome, values = self._outcome(row, result, now)
                outcomes.append(outcome)
                params.append(values)
                tally[row["endpoint_id"]][0 if outcome.action == "delivered" else 1] += 1
                if outcome.status_code == GONE:
                    disable[row["endpoint_id"]] = "the receiver answered 410 Gone"
            if params:
                with conn.cursor() as cur:
                    cur.executemany(self._q["record"], params)
            for endpoint_id, (oks, fails) in tally.items():
                failures = self._health(conn, endpoint_id, oks, fails)
                if failures >= self.policy.disable_after:
                    disable.setdefault(endpoint_id,
                                       f"{failures} consecutive deliveries failed")
        for endpoint_id, reason in disable.items():
            self._disable(endpoint_id, reason)
        return outcomes

    def redeliver(self, event_id: UUID) -> None:
        """Send this event again (the same id): due now, whatever it became before."""
        mark_for_redelivery(self.database_url, self.schema, None, event_id, self.clock())

    # --- one delivery ---

    def _ensure(self, conn: Any, event_id: UUID) -> None:
        self._adopt(conn)  # the event's and every earlier one's delivery row
        if conn.execute(sql.SQL(
                "SELECT 1 FROM {} WHERE event_id = %s").format(self.t[DELIVERIES]),
                (event_id,)).fetchone() is None:
            raise NotFound(f"no webhook event {event_id}")

    def deliver(self, event_id: UUID) -> Outcome:
        with self.pool.connection() as conn:
            self._ensure(conn, event_id)
        return self._deliver(event_id)

    def _deliver(self, event_id: UUID) -> Outcome:
        """`deliver`, its delivery row known to exist."""
        disable: tuple[UUID, str] | None = None
        with self.pool.connection() as conn, conn.transaction():
            row = conn.execute(self._q["lock"], (event_id,)).fetchone()
            if row is None:
                return Outcome(event_id, "skipped", "another deliverer holds it")
            now = self.clock()
            why = self._not_ready(row, now)
            if why:
                return Outcome(event_id, "skipped", why)
            outcome, failures = self._attempt(conn, row, self._signing(conn, row, now), now)
            if outcome.status_code == GONE:
                disable = (row["endpoint_id"], "the receiver answered 410 Gone")
            elif failures >= self.policy.disable_after:
                disable = (row["endpoint_id"], f"{failures} consecutive deliveries failed")
        if disable is not None:
            self._disable(*disable)
        return outcome

    @staticmethod
    def _not_ready(row: dict[str, Any], now: datetime) -> str:
        """Why a locked delivery row is not sent now ("" : it is)."""
        if row["status"] != "pending":
            return f"already {row['status']}"
        if not row["active"]:
            return "the endpoint is disabled"
        if row["next_attempt_at"] > now:
            return "not due yet"
        if row["earlier_pending"]:
            return "an earlier event goes first"
        return ""

    def _disable(self, endpoint_id: UUID, reason: str) -> None:
        try:
            self.ledger.disable_webhook_endpoint(endpoint_id, ACTOR, reason)
            log.warning("webhook endpoint %s disabled: %s", endpoint_id, reason)
        except IllegalTransition:
            pass  # disabled meanwhile (by a twin, or an admin)

    def _signing(self, conn: Any, row: dict[str, Any], now: datetime) -> list[str]:
        """The current secret, and the one it replaced while its grace period lasts. A
        version's secret never changes: each is loaded once per process."""
        versions = [row["secret_version"]]
        if row["previous_version"] is not None and row["previous_until"] is not None \
                and now < row["previous_until"]:
            versions.append(row["previous_version"])
        out = []
        for version in versions:
            key = (row["endpoint_id"], version)
            if key not in self._secrets:
                self._secrets[key] = load_secret(conn, self.schema, row["endpoint_id"],
                                                 version)
            out.append(self._secrets[key])
        return out

    def body(self, row: dict[str, Any]) -> bytes:
        """The same bytes for every attempt of one event: only the timestamp header moves."""
        return json.dumps({"id": str(row["event_id"]), "type": row["type"],
                           "created_at": row["created_at"].astimezone(UTC).isoformat(),
                           "data": row["data"]}, sort_keys=True, separators=(",", ":")).encode()

    def _attempt(self, conn: Any, row: dict[str, Any], secrets: list[str],
                 now: datetime) -> tuple[Outcome, int]:
        outcome, values = self._outcome(row, self._send(row, secrets, now), now)
        conn.execute(self._q["record"], values)
        ok = outcome.action == "delivered"
        return outcome, self._health(conn, row["endpoint_id"], int(ok), int(not ok))

    def _send(self, row: dict[str, Any], secrets: list[str], now: datetime) -> Sent:
        body = self.body(row)
        timestamp = int(now.timestamp())
        headers = {"Content-Type": "application/json", "User-Agent": "mass-payout-webhooks/1",
                   "Webhook-Id": str(row["event_id"]), "Webhook-Timestamp": str(timestamp),
                   "Webhook-Signature": signature(secrets, timestamp, body)}
        started = time.monotonic()
        status: int | None = None
        response, error = "", None
        try:
            status, response = self._post(row["url"], body, headers)
        except Refused as err:
            error = str(err)
        except httpx.HTTPError as err:
            error = redact(f"{type(err).__name__}: {err}")[:300]
        return Sent(status, response, error, int((time.monotonic() - started) * 1000))

    def _outcome(self, row: dict[str, Any], sent: Sent,
                 now: datetime) -> tuple[Outcome, tuple[Any, ...]]:
        """The outcome, and the `record` statement's parameters (the attempt and the row)."""
        event_id, status, error = row["event_id"], sent.status, sent.error
        ok = status is not None and 200 <= status < 300
        attempt = row["attempts"] + 1
        first = row["first_attempt_at"] or now
        if ok:
            state, next_at, action = "delivered", now, "delivered"
        else:
            next_at = now + self.policy.backoff(attempt, self.rng)
            gave_up = next_at - first > self.policy.give_up_after
            state, action = ("failed", "gave-up") if gave_up else ("pending", "retry")
        values = (event_id, attempt, row["endpoint_id"], now, status, sent.latency_ms,
                  sent.response, error, state, attempt, first, next_at, status,
                  sent.latency_ms, error, ok, now, now, event_id)
        detail = f"HTTP {status}" if status is not None else str(error)
        return Outcome(event_id, action, detail, status), values

    def _health(self, conn: Any, endpoint_id: UUID, oks: int, fails: int) -> int:
        """The endpoint's consecutive failures after `oks` successes and `fails` failures
        (of one pass: a success among them restarts the run)."""
        if not fails:  # no write (so no lock on the endpoint's row) unless it was failing
            conn.execute(self._q["healthy"], (endpoint_id,))
            return 0
        query = self._q["failed_again" if oks else "failed"]
        return int(conn.execute(query, (endpoint_id, fails, fails)).fetchone()[
            "consecutive_failures"])

    def _post(self, url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            addresses = self.resolver(host, port)
        except OSError as err:
            raise Refused(f"{host} does not resolve: {err}") from None
        refused = [str(a) for a in addresses if not address_allowed(host, a, self.policy.allow)]
        if not addresses or refused:
            raise Refused(f"{host} resolves to a non-public address {refused[:1]}: refused"
                          " (MASS_PAYOUT_WEBHOOK_ALLOW)")
        address = addresses[0]
        literal = f"[{address}]" if address.version == 6 else str(address)
        netloc = f"{literal}:{parts.port}" if parts.port else literal
        target = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
        extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
        with self.client.stream("POST", target, content=body, extensions=extensions,
                                headers={**headers, "Host": parts.netloc}) as response:
            kept = b""
            for chunk in response.iter_raw():
                kept += chunk
                if len(kept) >= RESPONSE_BYTES:
                    break
            return response.status_code, kept[:RESPONSE_BYTES].decode("utf-8", "replace")


def mark_for_redelivery(database_url: str, schema: str, endpoint_id: UUID | None,
                        event_id: UUID, now: datetime | None = None) -> None:
    """Make one event due again (pending, now), keeping its attempts: the deliverer sends it
    with the same id. NotFound unless it is an event of `endpoint_id` (when given)."""
    v = views(schema)
    moment = now or datetime.now(UTC)
    setup(database_url, schema)
    with psycopg.connect(database_url) as conn:
        try:
            found = conn.execute(sql.SQL(
                "SELECT endpoint_id, ordering_key, position FROM {} WHERE event_id = %s").format(
                sql.Identifier(v, OUTBOX)), (event_id,)).fetchone()
        except psycopg.errors.UndefinedTable:
            found = None
        if found is None or (endpoint_id is not None and found[0] != endpoint_id):
            raise NotFound(f"no webhook event {event_id} for endpoint {endpoint_id}")
        conn.execute(sql.SQL(
            "INSERT INTO {} AS d (event_id, endpoint_id, status, attempts, next_attempt_at,"
            " updated_at, ordering_key, position) VALUES (%s, %s, 'pending', 0, %s, %s, %s, %s)"
            " ON CONFLICT (event_id) DO UPDATE SET status = 'pending', next_attempt_at = %s,"
            " first_attempt_at = NULL, updated_at = %s").format(sql.Identifier(v, DELIVERIES)),
            (event_id, found[0], moment, moment, found[1], found[2], moment, moment))


def mark_range_for_redelivery(database_url: str, schema: str, endpoint_id: UUID, *,
                              since: datetime, until: datetime | None = None,
                              only_failed: bool = False, now: datetime | None = None) -> int:
    """Make every event of `endpoint_id` recorded in [since, until) due again (only those
    given up, with `only_failed`); returns how many. Order still holds: they go oldest
    first, each after the earlier events of its distribution."""
    v = views(schema)
    moment = now or datetime.now(UTC)
    setup(database_url, schema)
    failed = sql.SQL(" WHERE d.status = 'failed'" if only_failed else "")
    with psycopg.connect(database_url) as conn:
        try:
            changed = conn.execute(sql.SQL(
                "INSERT INTO {d} AS d (event_id, endpoint_id, status, attempts, next_attempt_at,"
                " updated_at, ordering_key, position) SELECT event_id, endpoint_id, 'pending',"
                " 0, %s, %s, ordering_key, position FROM {o}"
                " WHERE endpoint_id = %s AND created_at >= %s AND (%s::timestamptz IS NULL"
                " OR created_at < %s) AND (NOT %s OR event_id IN (SELECT event_id FROM {d}"
                " WHERE status = 'failed'))"
                " ON CONFLICT (event_id) DO UPDATE SET status = 'pending', next_attempt_at = %s,"
                " first_attempt_at = NULL, updated_at = %s{failed}").format(
                d=sql.Identifier(v, DELIVERIES), o=sql.Identifier(v, OUTBOX), failed=failed),
                (moment, moment, endpoint_id, since, until, until, only_failed, moment, moment))
        except psycopg.errors.UndefinedTable:
            return 0
        return max(changed.rowcount, 0)


# --- RQ: the job and its dispatcher (the per-process context, as app.jobs keeps it) ---

QUEUE_NAME = "webhooks"
_deliverer: Deliverer | None = None


def install(deliverer: Deliverer) -> None:
    """Called once by a worker process that takes webhook jobs."""
    global _deliverer  # noqa: PLW0603  # the per-process context RQ's job functions reach
    _deliverer = deliverer


def deliver_webhook(event_id: str) -> str:
    if _deliverer is None:
        raise RuntimeError("worker not wired for webhooks: install(Deliverer(...)) first")
    outcome = _deliverer.deliver(UUID(event_id))
    return f"{outcome.action}: {outcome.detail}"


def enqueue_due(deliverer: Deliverer, queue: Any, limit: int = 500) -> int:
    """Queue every due head once per attempt (`webhook-<id>-<attempts>`, unique): a doubled
    dispatcher queues nothing twice, and a job run twice is skipped by the row lock."""
    from rq.exceptions import DuplicateJobError

    queued = 0
    with deliverer.pool.connection() as conn:
        ids = deliverer.due(limit)
        attempts = {r["event_id"]: r["attempts"] for r in conn.execute(sql.SQL(
            "SELECT event_id, attempts FROM {} WHERE event_id = ANY(%s)").format(
            deliverer.t[DELIVERIES]), (ids,))}
    for event_id in ids:
        try:
            queue.enqueue(deliver_webhook, str(event_id), unique=True, job_timeout=60,
                          job_id=f"webhook-{event_id}-{attempts.get(event_id, 0)}")
            queued += 1
        except DuplicateJobError:
            continue
    return queued
