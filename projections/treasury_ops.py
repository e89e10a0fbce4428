"""Treasury operations (reclaim, sweep) of each distribution, one row each: what was asked,
by whom, who approved it, the transaction sent and what the vault's log says came of it.

The panel and the API list them from here; the ledger (domain.treasury) decides them.
"""

from __future__ import annotations

from typing import Any

from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.persistence import Tracking
from psycopg import sql

from domain.distribution import Distribution
from projections.base import SegmentedProjection, topics
from projections.store import ViewStore

TABLE = "treasury_ops"


class TreasuryOps(SegmentedProjection):
    name = "treasury_ops"
    tables = (TABLE,)
    topics = topics(Distribution.TreasuryOpRequested, Distribution.TreasuryOpApproved,
                    Distribution.TreasuryOpSubmitted, Distribution.TreasuryOpRejected,
                    Distribution.Reclaimed, Distribution.Swept)

    @staticmethod
    def ddl(store: ViewStore) -> list[sql.Composed]:
        return [sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} (distribution_id uuid NOT NULL, number int NOT NULL,"
            " kind text NOT NULL, state text NOT NULL, amount numeric(78) NOT NULL,"
            " reason text NOT NULL, requested_by text NOT NULL,"
            " requested_at timestamptz NOT NULL, approved_by text, approved_at timestamptz,"
            " tx_hash text, rejection text, treasury text, settled_at timestamptz,"
            " updated_at timestamptz NOT NULL, position bigint NOT NULL,"
            " PRIMARY KEY (distribution_id, number))").format(store.table(TABLE))]

    def _run(self, key: str, statement: str, values: Any) -> None:
        self.segments.add(self.handler(
            key, lambda: sql.SQL(statement).format(self.view.table(TABLE))), values)

    def _set(self, key: str, e: Any, tracking: Tracking, assignments: str,
             **values: Any) -> None:
        values.update(id=e.originator_id, number=e.number, at=e.timestamp,
                      pos=tracking.notification_id)
        self._run(key, "UPDATE {} SET " + assignments + ", updated_at = %(at)s,"  # noqa: S608
                  " position = %(pos)s WHERE distribution_id = %(id)s AND number = %(number)s",
                  values)

    @singledispatchmethod
    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        """Events of other topics never reach this projection."""

    @staticmethod
    def added_columns(store: ViewStore) -> list[sql.Composed]:
        return [sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS destination text NOT NULL"
                        " DEFAULT 'TREASURY', ADD COLUMN IF NOT EXISTS recipient text"
                        ).format(store.table(TABLE))]

    @process_event.register
    def _requested(self, e: Distribution.TreasuryOpRequested, tracking: Tracking) -> None:
        self._run("requested", "INSERT INTO {} (distribution_id, number, kind, state, amount,"
                  " reason, requested_by, requested_at, updated_at, position, destination,"
                  " recipient) VALUES (%s, %s, %s, 'REQUESTED', %s, %s, %s, %s, %s, %s, %s, %s)"
                  " ON CONFLICT DO NOTHING",
                  (e.originator_id, e.number, e.kind, e.amount, e.reason, e.actor,
                   e.requested_at, e.timestamp, tracking.notification_id, e.destination,
                   e.recipient))

    @process_event.register
    def _approved(self, e: Distribution.TreasuryOpApproved, tracking: Tracking) -> None:
        self._set("approved", e, tracking, "state = 'APPROVED', approved_by = %(actor)s,"
                  " approved_at = %(at)s", actor=e.actor)

    @process_event.register
    def _submitted(self, e: Distribution.TreasuryOpSubmitted, tracking: Tracking) -> None:
        self._set("submitted", e, tracking, "state = 'SUBMITTED', tx_hash = %(tx)s,"
                  " rejection = NULL", tx=e.tx_hash)

    @process_event.register
    def _rejected(self, e: Distribution.TreasuryOpRejected, tracking: Tracking) -> None:
        self._set("rejected", e, tracking, "state = 'REJECTED', rejection = %(reason)s",
                  reason=e.reason)

    @process_event.register
    def _reclaimed(self, e: Distribution.Reclaimed, tracking: Tracking) -> None:
        self._set("done", e, tracking, "state = 'DONE', amount = %(amount)s, tx_hash = %(tx)s,"
                  " treasury = %(treasury)s, settled_at = %(at)s", amount=e.amount,
                  tx=e.tx_hash, treasury=e.treasury)

    @process_event.register
    def _swept(self, e: Distribution.Swept, tracking: Tracking) -> None:
        self._set("done", e, tracking, "state = 'DONE', amount = %(amount)s, tx_hash = %(tx)s,"
                  " treasury = %(treasury)s, settled_at = %(at)s", amount=e.amount,
                  tx=e.tx_hash, treasury=e.treasury)
