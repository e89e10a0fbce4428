"""Rebuild one read model from zero into fresh tables, then swap them in atomically.

The API keeps reading the live tables while the new ones fill (in large batches: catch-up
speed is the point). The swap takes the live tables' locks, catches the new tables up to the
head inside the same transaction, and renames: readers wait for milliseconds, never see a
half-built table, and a live runner of the same projection resumes from the swapped-in
tracking row (its compare-and-set fails if it was mid-batch).

At start the projector rebuilds (`rebuild_each`) every read model that is `stale`: its live
tables were built by an older version of its projection, which missed events it handles now.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from eventsourcing.postgres import PostgresDatastore
from psycopg import sql

from app.ledger import PayoutLedger
from projections.base import TableProjection
from projections.registry import PROJECTIONS, open_projection
from projections.runner import Runner
from projections.store import announce


@dataclass(frozen=True, slots=True)
class Rebuilt:
    name: str
    position: int
    seconds: float


def rebuild(ledger: PayoutLedger, datastore: PostgresDatastore, cls: type[TableProjection], *,
            max_events: int = 250_000, max_seconds: float = 10.0) -> Rebuilt:
    started = time.perf_counter()
    open_projection(datastore, cls)  # the live tables exist, so there is something to swap
    suffix = f"__rb{uuid.uuid4().hex[:8]}"
    fresh = open_projection(datastore, cls, suffix)
    runner = Runner(ledger, fresh, max_events=max_events, max_seconds=max_seconds, page=10_000)
    runner.catch_up()
    store, schema = fresh.view, datastore.schema
    live = [*cls.tables, f"{cls.name}_tracking"]
    with datastore.get_connection() as conn, conn.transaction():
        conn.execute(sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(
            sql.SQL(", ").join(sql.Identifier(schema, t) for t in live)))
        runner.step(conn)  # whatever was recorded meanwhile, inside the swap
        position = runner.position_in(conn)
        for table in live:
            conn.execute(sql.SQL("ALTER TABLE {} RENAME TO {}").format(
                sql.Identifier(schema, table), sql.Identifier(f"{table}__old{suffix}")))
        for table in cls.tables:
            conn.execute(sql.SQL("ALTER TABLE {} RENAME TO {}").format(
                store.table(table), sql.Identifier(table)))
        conn.execute(sql.SQL("ALTER TABLE {} RENAME TO {}").format(
            store.tracking(), sql.Identifier(f"{cls.name}_tracking")))
        for table in live:
            conn.execute(sql.SQL("DROP TABLE {}").format(
                sql.Identifier(schema, f"{table}__old{suffix}")))
        with conn.cursor() as cur:
            announce(cur, schema, cls.name, position)
    return Rebuilt(cls.name, position, time.perf_counter() - started)


def stale(datastore: PostgresDatastore) -> list[type[TableProjection]]:
    """Read models whose live tables an older version of their projection built."""
    return [cls for cls in PROJECTIONS.values()
            if open_projection(datastore, cls).view.version() < cls.version]


def rebuild_each(ledger: PayoutLedger, datastore: PostgresDatastore,
                 classes: list[type[TableProjection]],
                 report: Callable[[Rebuilt], object] = lambda _: None) -> list[Rebuilt]:
    done = []
    for cls in classes:
        done.append(rebuild(ledger, datastore, cls))
        report(done[-1])
    return done
