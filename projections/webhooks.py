"""The webhooks outbox: endpoints as the ledger records them, and every webhook event the
log implies, one row per (ledger event, endpoint subscribed and active at that point of the
log).

Derived, so rebuildable: an event's id is uuid5(endpoint, originator/version)
(`app.webhooks.event_id`), the same however often the log is replayed, and its body is made
from the ledger event alone. Delivery outcomes are kept outside these tables
(`app.webhooks`), keyed by that id, so a rebuild re-sends nothing that was delivered.

Failed holders are told per settled batch (one event for the batch's failures), never per
holder; a batch that is BLOCKED (a rejected submission, or attempts given up) is one event.
Events of one distribution (or one schedule, or one ingestion cursor) share an ordering key:
the deliverer sends them in log order.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.persistence import Tracking
from psycopg import Cursor, sql
from psycopg.rows import DictRow

from app.webhooks import BATCHES, ENDPOINTS, OUTBOX, event_id
from domain.audit_runs import AuditRun
from domain.batch import PayoutBatch
from domain.cursor import ChainCursor
from domain.distribution import Distribution
from domain.schedule import Schedule
from domain.webhooks import WebhookEndpoint
from projections.base import SegmentedProjection, executemany, topics
from projections.store import ViewStore

D = Distribution


AMOUNTS = frozenset({"amount_paid", "needed", "available", "unpaid", "resumed_with_funds"})


def _json(name: str, value: Any) -> Any:
    """Amounts (smallest units) as strings: a JSON number loses digits beyond 2^53 in most
    receivers' parsers. Times in ISO 8601, ids as strings."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value) if name in AMOUNTS else value
    if value is None or isinstance(value, bool | list | str):
        return value
    return str(value)


class Webhooks(SegmentedProjection):
    name = OUTBOX  # the outbox; its main table
    version = 2  # 2: indexed by position (a rebuild adds the index to existing outboxes)
    tables = (ENDPOINTS, BATCHES, OUTBOX)
    topics = topics(
        WebhookEndpoint.Created, WebhookEndpoint.Updated, WebhookEndpoint.Disabled,
        WebhookEndpoint.Enabled, WebhookEndpoint.SecretRotated, D.Created, D.Approved,
        D.Committed, D.ExecutionStarted,
        D.FundsAwaited, D.FundsArrived, D.Completed, D.Cancelled, D.Expired,
        PayoutBatch.Planned, PayoutBatch.SubmissionRejected, PayoutBatch.AttemptFailed,
        PayoutBatch.Settled, Schedule.OccurrenceSpawned, Schedule.OccurrencesMissed,
        ChainCursor.Halted, AuditRun.Completed)

    @staticmethod
    def ddl(store: ViewStore) -> list[sql.Composed]:
        outbox = store.table(OUTBOX)
        return [
            sql.SQL("CREATE TABLE IF NOT EXISTS {} (endpoint_id uuid PRIMARY KEY,"
                    " url text NOT NULL, event_types text[] NOT NULL, description text NOT NULL,"
                    " active boolean NOT NULL, disabled_reason text NOT NULL,"
                    " created_by text NOT NULL, updated_by text NOT NULL,"
                    " created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL,"
                    " created_position bigint NOT NULL, position bigint NOT NULL)").format(
                store.table(ENDPOINTS)),
            sql.SQL("CREATE TABLE IF NOT EXISTS {} (batch_id uuid PRIMARY KEY,"
                    " distribution_id uuid NOT NULL, number int NOT NULL)").format(
                store.table(BATCHES)),
            sql.SQL("CREATE TABLE IF NOT EXISTS {} (event_id uuid PRIMARY KEY,"
                    " endpoint_id uuid NOT NULL, type text NOT NULL, ordering_key uuid NOT NULL,"
                    " source_id uuid NOT NULL, source_version int NOT NULL, data jsonb NOT NULL,"
                    " created_at timestamptz NOT NULL, position bigint NOT NULL)").format(outbox),
            sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} (endpoint_id, position)").format(
                sql.Identifier(f"{store.table_name(OUTBOX)}_endpoint"), outbox),
            sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} (endpoint_id, ordering_key, position)"
                    ).format(sql.Identifier(f"{store.table_name(OUTBOX)}_order"), outbox),
            # the deliverer reads the rows past its adoption cursor (app.webhook_delivery)
            sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} (position)").format(
                sql.Identifier(f"{store.table_name(OUTBOX)}_position"), outbox),
        ]

    @staticmethod
    def added_columns(store: ViewStore) -> list[sql.Composed]:
        """Which stored secrets sign (app.webhooks.load_secret): the current version, and
        the previous one until its grace period ends."""
        return [sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS secret_version int NOT NULL"
                        " DEFAULT 1, ADD COLUMN IF NOT EXISTS previous_version int,"
                        " ADD COLUMN IF NOT EXISTS previous_until timestamptz").format(
            store.table(ENDPOINTS))]

    # --- endpoints ---

    def _endpoint(self, key: str, statement: str, row: Any) -> None:
        self.segments.add(self.handler(
            key, lambda: sql.SQL(statement).format(self.view.table(ENDPOINTS))), row)

    @singledispatchmethod
    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        """Events of other topics never reach this projection."""

    @process_event.register
    def _endpoint_created(self, e: WebhookEndpoint.Created, tracking: Tracking) -> None:
        self._endpoint("created", "INSERT INTO {} VALUES (%s, %s, %s, %s, true, '', %s, %s,"
                       " %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                       (e.originator_id, e.url, list(e.event_types), e.description, e.actor,
                        e.actor, e.timestamp, e.timestamp, tracking.notification_id,
                        tracking.notification_id))

    @process_event.register
    def _endpoint_updated(self, e: WebhookEndpoint.Updated, tracking: Tracking) -> None:
        self._endpoint("updated", "UPDATE {} SET url = %s, event_types = %s, description = %s,"
                       " updated_by = %s, updated_at = %s, position = %s WHERE endpoint_id = %s",
                       (e.url, list(e.event_types), e.description, e.actor, e.timestamp,
                        tracking.notification_id, e.originator_id))

    @process_event.register
    def _endpoint_disabled(self, e: WebhookEndpoint.Disabled, tracking: Tracking) -> None:
        self._endpoint("disabled", "UPDATE {} SET active = false, disabled_reason = %s,"
                       " updated_by = %s, updated_at = %s, position = %s WHERE endpoint_id = %s",
                       (e.reason, e.actor, e.timestamp, tracking.notification_id,
                        e.originator_id))

    @process_event.register
    def _endpoint_enabled(self, e: WebhookEndpoint.Enabled, tracking: Tracking) -> None:
        self._endpoint("enabled", "UPDATE {} SET active = true, disabled_reason = '',"
                       " updated_by = %s, updated_at = %s, position = %s WHERE endpoint_id = %s",
                       (e.actor, e.timestamp, tracking.notification_id, e.originator_id))

    @process_event.register
    def _secret_rotated(self, e: WebhookEndpoint.SecretRotated, tracking: Tracking) -> None:
        self._endpoint("rotated", "UPDATE {} SET previous_version = secret_version,"
                       " secret_version = %s, previous_until = %s, updated_by = %s,"
                       " updated_at = %s, position = %s WHERE endpoint_id = %s",
                       (e.originator_version, e.previous_until, e.actor, e.timestamp,
                        tracking.notification_id, e.originator_id))

    # --- the outbox ---

    def _emit(self, event_type: str, e: Any, tracking: Tracking, ordering_key: UUID | None,
              **data: Any) -> None:
        """`ordering_key` None: a batch's event, ordered by its distribution (looked up)."""
        if "emit" not in self._handlers:
            self._handlers["emit"] = self._write_outbox
        self.segments.add(self._handlers["emit"], (
            event_type, ordering_key, e.originator_id, e.originator_version, data, e.timestamp,
            tracking.notification_id))

    def _write_outbox(self, cur: Cursor[DictRow], rows: list[Any]) -> None:
        subscribed = sql.SQL("SELECT endpoint_id FROM {} WHERE active AND %s = ANY(event_types)"
                             " ORDER BY endpoint_id").format(self.view.table(ENDPOINTS))
        batch = sql.SQL("SELECT distribution_id, number FROM {} WHERE batch_id = %s").format(
            self.view.table(BATCHES))
        insert = sql.SQL("INSERT INTO {} VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
                         " ON CONFLICT DO NOTHING").format(self.view.table(OUTBOX))
        values: list[tuple[Any, ...]] = []
        for kind, given, source, version, data, at, position in rows:
            endpoints = [r["endpoint_id"] for r in cur.execute(subscribed, (kind,))]
            if not endpoints:
                continue
            body = {k: _json(k, v) for k, v in data.items()}
            key = given
            if key is None:
                found = cur.execute(batch, (source,)).fetchone()
                if found is None:
                    continue  # a batch planned before this projection knew it: never here
                key = found["distribution_id"]
                body.update(distribution_id=str(key), batch=found["number"])
            payload = json.dumps(body, sort_keys=True)
            values.extend((event_id(endpoint, source, version), endpoint, kind, key, source,
                           version, payload, at, position) for endpoint in endpoints)
        if values:
            cur.executemany(insert, values)

    @process_event.register
    def _created(self, e: D.Created, tracking: Tracking) -> None:
        self._emit("distribution.created", e, tracking, e.originator_id,
                   distribution_id=e.originator_id, asset_id=e.asset_id,
                   kind=e.terms.kind.value, actor=e.actor)

    @process_event.register
    def _approved(self, e: D.Approved, tracking: Tracking) -> None:
        self._emit("distribution.approved", e, tracking, e.originator_id,
                   distribution_id=e.originator_id, actor=e.actor)

    @process_event.register
    def _committed(self, e: D.Committed, tracking: Tracking) -> None:
        self._emit("distribution.committed", e, tracking, e.originator_id,
                   distribution_id=e.originator_id, tx_hash=e.tx_hash,
                   claim_deadline=e.claim_deadline, actor=e.actor)

    @process_event.register
    def _executing(self, e: D.ExecutionStarted, tracking: Tracking) -> None:
        self._emit("distribution.executing", e, tracking, e.originator_id,
                   distribution_id=e.originator_id, actor=e.actor)

    @process_event.register
    def _funds_arrived(self, e: D.FundsArrived, tracking: Tracking) -> None:
        self._emit("distribution.executing", e, tracking, e.originator_id,
                   distribution_id=e.originator_id, resumed_with_funds=e.available)

    @process_event.register
    def _awaiting(self, e: D.FundsAwaited, tracking: Tracking) -> None:
        self._emit("distribution.waiting_for_funds", e, tracking, e.originator_id,
                   distribution_id=e.originator_id, needed=e.needed, available=e.available)

    @process_event.register
    def _completed(self, e: D.Completed, tracking: Tracking) -> None:
        kind = "distribution.completed_with_failures" if e.failed else "distribution.completed"
        self._emit(kind, e, tracking, e.originator_id, distribution_id=e.originator_id,
                   paid=e.paid, failed=e.failed, amount_paid=e.amount_paid)

    @process_event.register
    def _cancelled(self, e: D.Cancelled, tracking: Tracking) -> None:
        self._emit("distribution.cancelled", e, tracking, e.originator_id,
                   distribution_id=e.originator_id, actor=e.actor, reason=e.reason)

    @process_event.register
    def _expired(self, e: D.Expired, tracking: Tracking) -> None:
        self._emit("distribution.expired", e, tracking, e.originator_id,
                   distribution_id=e.originator_id, unpaid=e.unpaid)

    @process_event.register
    def _planned(self, e: PayoutBatch.Planned, tracking: Tracking) -> None:
        if "planned" not in self._handlers:
            self._handlers["planned"] = executemany(sql.SQL(
                "INSERT INTO {} VALUES (%s, %s, %s) ON CONFLICT DO NOTHING").format(
                self.view.table(BATCHES)))
        self.segments.add(self._handlers["planned"],
                          (e.originator_id, e.distribution_id, e.number))

    @process_event.register
    def _rejected(self, e: PayoutBatch.SubmissionRejected, tracking: Tracking) -> None:
        self._emit("batch.blocked", e, tracking, None, tx_hash=e.tx_hash, reason=e.reason)

    @process_event.register
    def _attempt_failed(self, e: PayoutBatch.AttemptFailed, tracking: Tracking) -> None:
        if e.retry_at is None:  # attempts ran out: the batch is BLOCKED
            self._emit("batch.blocked", e, tracking, None, attempt=e.attempt, reason=e.reason)

    @process_event.register
    def _settled(self, e: PayoutBatch.Settled, tracking: Tracking) -> None:
        if e.failed:
            self._emit("holder_payments.failed", e, tracking, None, tx_hash=e.tx_hash,
                       failed=e.failed, paid=e.paid, amount_paid=e.amount_paid)

    @process_event.register
    def _spawned(self, e: Schedule.OccurrenceSpawned, tracking: Tracking) -> None:
        self._emit("schedule.occurrence_spawned", e, tracking, e.originator_id,
                   schedule_id=e.originator_id, number=e.number, due_at=e.due_at,
                   distribution_id=e.distribution_id)

    @process_event.register
    def _missed(self, e: Schedule.OccurrencesMissed, tracking: Tracking) -> None:
        self._emit("schedule.occurrences_missed", e, tracking, e.originator_id,
                   schedule_id=e.originator_id, numbers=list(e.numbers), policy=e.policy,
                   reason=e.reason)

    @process_event.register
    def _halted(self, e: ChainCursor.Halted, tracking: Tracking) -> None:
        self._emit("ingestion.halted", e, tracking, e.originator_id, cursor_id=e.originator_id,
                   contract=e.contract, block_number=e.block_number, recorded_hash=e.recorded_hash,
                   chain_hash=e.chain_hash, reason=e.reason)

    @process_event.register
    def _audited(self, e: AuditRun.Completed, tracking: Tracking) -> None:
        if e.mismatched:  # a clean run tells nobody anything
            self._emit("reconciliation.mismatch", e, tracking, e.originator_id,
                       run_id=e.originator_id, trigger=e.trigger, key=e.key,
                       distributions_checked=e.distributions_checked,
                       mismatched=list(e.mismatched), differences=list(e.differences))
