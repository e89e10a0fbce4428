"""Audit runs: each scheduled `audit verify` and what it found, one row per `AuditRun`.

Read by `/metrics` (the latest run of each trigger, its mismatches) and by the panel's
"needs a person" list (a latest run that found a mismatch).
"""

from __future__ import annotations

from typing import Any

from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.persistence import Tracking
from psycopg import Cursor, sql
from psycopg.rows import DictRow

from domain.audit_runs import AuditRun
from projections.base import TableProjection, topics
from projections.store import ViewStore

TABLE = "audit_runs"


class AuditRuns(TableProjection):
    name = "audit_runs"
    tables = (TABLE,)
    topics = topics(AuditRun.Completed)

    def __init__(self, view: ViewStore) -> None:
        super().__init__(view)
        self.rows: list[tuple[Any, ...]] = []

    def reset(self) -> None:
        self.rows.clear()

    @staticmethod
    def ddl(store: ViewStore) -> list[sql.Composed]:
        return [
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (run_id uuid PRIMARY KEY, trigger text NOT NULL,"
                " key text NOT NULL, distributions_checked int NOT NULL,"
                " chain_checked int NOT NULL, mismatches int NOT NULL,"
                " mismatched text[] NOT NULL, differences text[] NOT NULL,"
                " recorded_at timestamptz NOT NULL, position bigint NOT NULL)"
            ).format(store.table(TABLE)),
            sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} (trigger, position)").format(
                sql.Identifier(f"{store.table_name(TABLE)}_latest"), store.table(TABLE)),
        ]

    @singledispatchmethod
    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        """Events of other topics never reach this projection."""

    @process_event.register
    def _completed(self, e: AuditRun.Completed, tracking: Tracking) -> None:
        self.rows.append((e.originator_id, e.trigger, e.key, e.distributions_checked,
                          e.chain_checked, len(e.mismatched), list(e.mismatched),
                          list(e.differences), e.timestamp, tracking.notification_id))

    def write(self, cur: Cursor[DictRow]) -> None:
        if self.rows:
            cur.executemany(sql.SQL(
                "INSERT INTO {} VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT DO NOTHING").format(self.view.table(TABLE)), self.rows)
            self.rows.clear()
