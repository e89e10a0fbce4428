"""Ingestion cursors: how far each contract's logs have been ingested, one row per ChainCursor.

/metrics compares `last_block` with the chain head. Loading the ChainCursor aggregate for that
would replay every range it ever ingested (one event each, forever); this row follows those
events as they are recorded, so the lag costs one indexed read however long ingestion runs.
Within a batch of events each cursor's changes are coalesced into one UPDATE. `halted` is why
ingestion stopped (a reorg below the cursor), until the cursor advances again: the
dashboard's "needs a person" reads it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.persistence import Tracking
from psycopg import Cursor, sql
from psycopg.rows import DictRow

from domain.cursor import ChainCursor
from projections.base import TableProjection, topics
from projections.store import ViewStore

TABLE = "ingestion_cursors"


@dataclass
class Change:
    """What a batch of events did to one cursor (`last_block` None: it did not advance)."""

    at: datetime
    position: int
    last_block: int | None = None
    last_hash: str | None = None
    unreadable: int = 0
    halted: str | None = None
    halt_changed: bool = False  # whether `halted` is news (a halt, or an advance clearing it)


class IngestionCursors(TableProjection):
    name = TABLE
    tables = (TABLE,)
    topics = topics(ChainCursor.Started, ChainCursor.Advanced, ChainCursor.LogUnreadable,
                    ChainCursor.Halted)

    def __init__(self, view: ViewStore) -> None:
        super().__init__(view)
        self.started: list[tuple[Any, ...]] = []
        self.changes: dict[UUID, Change] = {}
        table = view.table(TABLE)
        self._insert = sql.SQL(
            "INSERT INTO {} (cursor_id, chain_id, contract, last_block, updated_at, position)"
            " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING").format(table)
        self._update = sql.SQL(
            "UPDATE {} AS c SET last_block = coalesce(u.last_block, c.last_block),"
            " last_hash = CASE WHEN u.last_block IS NULL THEN c.last_hash ELSE u.last_hash END,"
            " unreadable = c.unreadable + u.unreadable, updated_at = u.at, position = u.pos,"
            " halted = CASE WHEN u.halt_changed THEN u.halted ELSE c.halted END"
            " FROM unnest(%s::uuid[], %s::bigint[], %s::text[], %s::int[], %s::timestamptz[],"
            " %s::bigint[], %s::text[], %s::bool[])"
            " AS u(id, last_block, last_hash, unreadable, at, pos, halted, halt_changed)"
            " WHERE c.cursor_id = u.id").format(table)

    def reset(self) -> None:
        self.started.clear()
        self.changes.clear()

    @staticmethod
    def ddl(store: ViewStore) -> list[sql.Composed]:
        return [sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} (cursor_id uuid PRIMARY KEY, chain_id bigint NOT NULL,"
            " contract text NOT NULL, last_block bigint NOT NULL, last_hash text,"
            " unreadable int NOT NULL DEFAULT 0, updated_at timestamptz NOT NULL,"
            " position bigint NOT NULL)").format(store.table(TABLE))]

    @staticmethod
    def added_columns(store: ViewStore) -> list[sql.Composed]:
        return [sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS halted text").format(
            store.table(TABLE))]

    def _change(self, e: Any, tracking: Tracking) -> Change:
        change = self.changes.get(e.originator_id)
        if change is None:
            change = self.changes[e.originator_id] = Change(e.timestamp,
                                                            tracking.notification_id)
        change.at, change.position = e.timestamp, tracking.notification_id
        return change

    @singledispatchmethod
    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        """Events of other topics never reach this projection."""

    @process_event.register
    def _started(self, e: ChainCursor.Started, tracking: Tracking) -> None:
        self.started.append((e.originator_id, e.chain_id, e.contract, e.from_block - 1,
                             e.timestamp, tracking.notification_id))

    @process_event.register
    def _advanced(self, e: ChainCursor.Advanced, tracking: Tracking) -> None:
        change = self._change(e, tracking)
        change.last_block, change.last_hash = e.to_block, e.block_hash
        change.halted, change.halt_changed = None, True

    @process_event.register
    def _halted(self, e: ChainCursor.Halted, tracking: Tracking) -> None:
        change = self._change(e, tracking)
        change.halted, change.halt_changed = e.reason, True

    @process_event.register
    def _unreadable(self, e: ChainCursor.LogUnreadable, tracking: Tracking) -> None:
        self._change(e, tracking).unreadable += 1

    def write(self, cur: Cursor[DictRow]) -> None:
        if self.started:  # first: a cursor's later events in this batch update its row
            cur.executemany(self._insert, self.started)
        if self.changes:
            ids = list(self.changes)
            changes = [self.changes[i] for i in ids]
            cur.execute(self._update, (
                ids, [c.last_block for c in changes], [c.last_hash for c in changes],
                [c.unreadable for c in changes], [c.at for c in changes],
                [c.position for c in changes], [c.halted for c in changes],
                [c.halt_changed for c in changes]))
        self.reset()
