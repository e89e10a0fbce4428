"""Batches: status, tx hashes, gas used and counts, one row per PayoutBatch.

A batch settles once per transaction (a retry of failed leaves is its own settlement):
`paid` adds up across settlements; `failed` is what the latest settlement left failed.

Why a batch waits: `rejection` is the reason it is BLOCKED (a submission refused for good, or
"gave up after N attempts: …"); `transient_failures` / `retry_at` are the consecutive transient
faults since the last submission or retry and when the next attempt is due; `retries` counts
operator (or funds) retries, each of which puts the batch back to PLANNED.
"""

from __future__ import annotations

from typing import Any

from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.persistence import Tracking
from psycopg import sql

from domain.batch import BatchStatus, PayoutBatch
from projections.base import Handler, SegmentedProjection, topics
from projections.store import ViewStore

TABLE = "batches"


class Batches(SegmentedProjection):
    name = "batches"
    tables = (TABLE,)
    version = 2  # 2: rejections, transient failures and retries
    topics = topics(PayoutBatch.Planned, PayoutBatch.Submitted, PayoutBatch.SubmissionRejected,
                    PayoutBatch.AttemptFailed, PayoutBatch.RetryRequested, PayoutBatch.Settled)

    @staticmethod
    def ddl(store: ViewStore) -> list[sql.Composed]:
        return [
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (batch_id uuid PRIMARY KEY,"
                " distribution_id uuid NOT NULL, number int NOT NULL, first_leaf int NOT NULL,"
                " leaf_count int NOT NULL, total_net numeric(78) NOT NULL,"
                " gas_limit bigint NOT NULL, status text NOT NULL,"
                " attempts int NOT NULL DEFAULT 0, tx_hashes text[] NOT NULL DEFAULT '{{}}',"
                " last_tx_hash text, gas_used bigint NOT NULL DEFAULT 0,"
                " paid int NOT NULL DEFAULT 0, failed int NOT NULL DEFAULT 0,"
                " already_paid int NOT NULL DEFAULT 0,"
                " amount_paid numeric(78) NOT NULL DEFAULT 0,"
                " planned_at timestamptz NOT NULL, updated_at timestamptz NOT NULL,"
                " position bigint NOT NULL)"
            ).format(store.table(TABLE)),
            sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} (distribution_id, number)").format(
                sql.Identifier(f"{store.table_name(TABLE)}_distribution"), store.table(TABLE)),
        ]

    @staticmethod
    def added_columns(store: ViewStore) -> list[sql.Composed]:
        return [sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS rejection text,"
                        " ADD COLUMN IF NOT EXISTS transient_failures int NOT NULL DEFAULT 0,"
                        " ADD COLUMN IF NOT EXISTS retry_at timestamptz,"
                        " ADD COLUMN IF NOT EXISTS retries int NOT NULL DEFAULT 0"
                        ).format(store.table(TABLE))]

    def _handler(self, key: str, statement: str) -> Handler:
        return self.handler(key, lambda: sql.SQL(statement).format(t=self.view.table(TABLE)))

    @singledispatchmethod
    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        """Events of other topics never reach this projection."""

    @process_event.register
    def _planned(self, e: PayoutBatch.Planned, tracking: Tracking) -> None:
        handler = self._handler("planned", (
            "INSERT INTO {t} (batch_id, distribution_id, number, first_leaf, leaf_count,"
            " total_net, gas_limit, status, planned_at, updated_at, position) VALUES"
            " (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING"))
        status = BatchStatus.PLANNED if e.leaf_count else BatchStatus.SETTLED
        self.segments.add(handler, (
            e.originator_id, e.distribution_id, e.number, e.first_leaf, e.leaf_count,
            e.total_net, e.gas_limit, status.value, e.timestamp, e.timestamp,
            tracking.notification_id))

    @process_event.register
    def _submitted(self, e: PayoutBatch.Submitted, tracking: Tracking) -> None:
        handler = self._handler("submitted", (
            "UPDATE {t} SET status = 'SUBMITTED', attempts = %(attempt)s,"
            " tx_hashes = array_append(tx_hashes, %(tx)s), last_tx_hash = %(tx)s,"
            " rejection = NULL, transient_failures = 0, retry_at = NULL,"
            " updated_at = %(at)s, position = %(pos)s WHERE batch_id = %(id)s"))
        self.segments.add(handler, {"attempt": e.attempt, "tx": e.tx_hash, "at": e.timestamp,
                                    "pos": tracking.notification_id, "id": e.originator_id})

    @process_event.register
    def _rejected(self, e: PayoutBatch.SubmissionRejected, tracking: Tracking) -> None:
        self._block(e, tracking, e.reason)

    def _block(self, e: Any, tracking: Tracking, reason: str) -> None:
        handler = self._handler("blocked", (
            "UPDATE {t} SET status = 'BLOCKED', rejection = %(reason)s, updated_at = %(at)s,"
            " position = %(pos)s WHERE batch_id = %(id)s"))
        self.segments.add(handler, {"reason": reason, "at": e.timestamp,
                                    "pos": tracking.notification_id, "id": e.originator_id})

    @process_event.register
    def _attempt_failed(self, e: PayoutBatch.AttemptFailed, tracking: Tracking) -> None:
        handler = self._handler("attempt_failed", (
            "UPDATE {t} SET transient_failures = %(attempt)s, retry_at = %(retry_at)s,"
            " updated_at = %(at)s, position = %(pos)s WHERE batch_id = %(id)s"))
        self.segments.add(handler, {"attempt": e.attempt, "retry_at": e.retry_at,
                                    "at": e.timestamp, "pos": tracking.notification_id,
                                    "id": e.originator_id})
        if e.retry_at is None:  # attempts ran out; the wording is the aggregate's
            self._block(e, tracking, f"gave up after {e.attempt} attempts: {e.reason}")

    @process_event.register
    def _retry_requested(self, e: PayoutBatch.RetryRequested, tracking: Tracking) -> None:
        handler = self._handler("retry_requested", (
            "UPDATE {t} SET retries = retries + 1, transient_failures = 0, retry_at = NULL,"
            " rejection = CASE WHEN %(unblocked)s THEN NULL ELSE rejection END,"
            " status = CASE WHEN %(unblocked)s OR %(leaves)s THEN 'PLANNED' ELSE status END,"
            " updated_at = %(at)s, position = %(pos)s WHERE batch_id = %(id)s"))
        self.segments.add(handler, {"unblocked": e.unblocked, "leaves": bool(e.leaf_indices),
                                    "at": e.timestamp, "pos": tracking.notification_id,
                                    "id": e.originator_id})

    @process_event.register
    def _settled(self, e: PayoutBatch.Settled, tracking: Tracking) -> None:
        handler = self._handler("settled", (
            "UPDATE {t} SET status = 'SETTLED', last_tx_hash = %(tx)s,"
            " gas_used = gas_used + %(gas)s, paid = paid + %(paid)s, failed = %(failed)s,"
            " already_paid = %(already)s, amount_paid = %(amount)s, updated_at = %(at)s,"
            " position = %(pos)s WHERE batch_id = %(id)s"))
        self.segments.add(handler, {
            "tx": e.tx_hash, "gas": e.gas_used, "paid": e.paid, "failed": e.failed,
            "already": e.already_paid, "amount": e.amount_paid, "at": e.timestamp,
            "pos": tracking.notification_id, "id": e.originator_id})
