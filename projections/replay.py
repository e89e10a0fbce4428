"""`audit replay`: rebuild every read model from position 0 into a fresh schema and compare
it with the live one, table by table (a digest each), then row by row where they differ.

The fresh tables are built the way `projections.rebuild` builds a rebuild's (the registry's
DDL, the same `Runner` in large batches), but in a schema of their own that is dropped at
the end: the live read models are never touched. Each projection is replayed up to the
live one's position; the comparison then holds a SHARE lock on the live tables (the
projector waits for it, readers do not), catches the fresh tables up to where the live
ones are at that moment, and compares them at that one position.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from eventsourcing.postgres import PostgresDatastore
from psycopg import Connection, sql
from psycopg.rows import DictRow

from app.ledger import PayoutLedger
from projections.base import TableProjection
from projections.registry import PROJECTIONS, open_projection
from projections.runner import Runner
from projections.store import APPLICATION, views_datastore, views_schema


class _UpTo(Runner):
    """A runner that stops at `stop`, not at the head of the log."""

    stop = 0

    def head(self) -> int:
        return min(super().head(), self.stop)


@dataclass
class TableComparison:
    table: str
    position: int  # the ledger position both copies were compared at
    live_rows: int
    fresh_rows: int
    live_digest: str
    fresh_digest: str
    only_live: list[dict[str, Any]] = field(default_factory=list)  # a sample
    only_fresh: list[dict[str, Any]] = field(default_factory=list)
    problem: str | None = None  # e.g. the columns differ

    @property
    def ok(self) -> bool:
        return self.problem is None and self.live_digest == self.fresh_digest \
            and self.live_rows == self.fresh_rows


@dataclass
class ReplayReport:
    tables: list[TableComparison]
    events: int  # the ledger's head when the replay started
    seconds: float

    @property
    def ok(self) -> bool:
        return all(t.ok for t in self.tables)


def replay(ledger: PayoutLedger, database_url: str, schema: str, *,
           sample: int = 20) -> ReplayReport:
    """Replay every read model of the ledger in `schema` and compare it with the live one."""
    started = time.perf_counter()
    events = ledger.recorder.max_notification_id() or 0
    fresh_schema = f"{schema}__replay_{uuid.uuid4().hex[:8]}"
    live_store = views_datastore(database_url, schema)
    fresh_store = views_datastore(database_url, fresh_schema)
    tables: list[TableComparison] = []
    try:
        for cls in PROJECTIONS.values():
            tables.extend(_replay_one(ledger, cls, live_store, fresh_store, sample))
    finally:
        with fresh_store.get_connection() as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                sql.Identifier(views_schema(fresh_schema))))
        fresh_store.close()
        live_store.close()
    return ReplayReport(tables, events, time.perf_counter() - started)


def _replay_one(ledger: PayoutLedger, cls: type[TableProjection], live_store: PostgresDatastore,
                fresh_store: PostgresDatastore, sample: int) -> list[TableComparison]:
    live = open_projection(live_store, cls)
    runner = _UpTo(ledger, open_projection(fresh_store, cls), max_events=250_000,
                   max_seconds=10.0, page=10_000)
    runner.stop = live.view.position()
    runner.catch_up()  # the bulk of it, without holding anything of the live side
    live_schema, fresh_schema = live_store.schema, fresh_store.schema
    with live_store.get_connection() as conn, conn.transaction():
        conn.execute(sql.SQL("LOCK TABLE {} IN SHARE MODE").format(sql.SQL(", ").join(
            sql.Identifier(live_schema, t) for t in (*cls.tables, f"{cls.name}_tracking"))))
        position = _position(conn, live_schema, cls.name)
        runner.stop = position
        runner.catch_up()  # whatever the live side processed meanwhile
        return [_compare(conn, live_schema, fresh_schema, table, position, sample)
                for table in cls.tables]


def _position(conn: Connection[DictRow], views: str, name: str) -> int:
    """The live read model's position: its ledger's row only. The library also keeps a
    `__migration__` row at 1 in every tracking table; taken for the position, a read model
    that had not processed anything yet was compared at 1 (audit replay then reported the
    first event's rows missing from it)."""
    row = conn.execute(sql.SQL(
        "SELECT max(notification_id) AS n FROM {} WHERE application_name = %s").format(
        sql.Identifier(views, f"{name}_tracking")), (APPLICATION,)).fetchone()
    return int(row["n"] or 0) if row else 0


def _columns(conn: Connection[DictRow], views: str, table: str) -> list[str]:
    rows = conn.execute("SELECT column_name FROM information_schema.columns WHERE"
                        " table_schema = %s AND table_name = %s ORDER BY column_name",
                        (views, table)).fetchall()
    return [r["column_name"] for r in rows]


def _digest(conn: Connection[DictRow], table: sql.Identifier,
            columns: sql.Composable) -> tuple[int, str]:
    """Row count and an order-independent digest (md5 of the sorted rows' md5s)."""
    row = conn.execute(sql.SQL(
        "SELECT count(*) AS n, coalesce(md5(string_agg(h, '' ORDER BY h)), '') AS d"
        " FROM (SELECT md5(ROW({columns})::text) AS h FROM {table}) t").format(
        columns=columns, table=table)).fetchone()
    return (int(row["n"]), str(row["d"])) if row else (0, "")


def _compare(conn: Connection[DictRow], live_schema: str, fresh_schema: str, table: str,
             position: int, sample: int) -> TableComparison:
    live, fresh = sql.Identifier(live_schema, table), sql.Identifier(fresh_schema, table)
    names = _columns(conn, live_schema, table)
    columns = sql.SQL(", ").join(map(sql.Identifier, names))
    fresh_names = _columns(conn, fresh_schema, table)
    if names != fresh_names:
        return TableComparison(table, position, 0, 0, "", "", problem=(
            f"columns differ: only live {sorted(set(names) - set(fresh_names))},"
            f" only replayed {sorted(set(fresh_names) - set(names))}"))
    live_rows, live_digest = _digest(conn, live, columns)
    fresh_rows, fresh_digest = _digest(conn, fresh, columns)
    result = TableComparison(table, position, live_rows, fresh_rows, live_digest, fresh_digest)
    if not result.ok:
        rows = sql.SQL("SELECT {c} FROM {a} EXCEPT ALL SELECT {c} FROM {b} LIMIT %s")
        result.only_live = [dict(r) for r in conn.execute(
            rows.format(c=columns, a=live, b=fresh), (sample,)).fetchall()]
        result.only_fresh = [dict(r) for r in conn.execute(
            rows.format(c=columns, a=fresh, b=live), (sample,)).fetchall()]
    return result
