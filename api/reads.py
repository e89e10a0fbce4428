"""The read side of the API: an async pool on the read models, a row cache, and
read-your-writes.

Reads come only from the `<schema>_views` tables the projections maintain. A read that
names `wait_for_position` waits (bounded) until its read model has processed that ledger
position; a position the ledger has not reached is a 409 conflict (not yet), not a wait.

Rows fetched by key (one distribution, one asset) are cached per process, and a read
model's cache is dropped whenever its projection commits: projections announce every commit
with NOTIFY, delivered after the commit, and a listener here hears them. So a cached row is
never older than what the database would answer, give or take the notification's delivery
(sub-millisecond on one host). A read that raced a commit is not cached (a generation count
per read model), and while the listener is not connected nothing is cached at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from typing import Any

import psycopg
from psycopg import AsyncConnection, sql
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from api.problems import Problem
from projections.store import APPLICATION, channel, views_schema

log = logging.getLogger(__name__)
Row = dict[str, Any]


class ReadModels:
    def __init__(self, database_url: str, schema: str, *, pool_size: int = 8,
                 wait_seconds: float = 5.0, cached_rows: int = 10_000) -> None:
        self.database_url = database_url
        self.schema = schema
        self.views = views_schema(schema)
        self.wait_seconds = wait_seconds
        self.cached_rows = cached_rows
        self.pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
            database_url, min_size=min(4, pool_size), max_size=pool_size, open=False,
            kwargs={"autocommit": True, "row_factory": dict_row})
        self._cache: dict[str, dict[Any, Row | None]] = defaultdict(dict)
        self._generation: dict[str, int] = defaultdict(int)
        self._seen: dict[str, int] = {}  # read model -> last position announced
        self._listening = False
        self._listener: asyncio.Task[None] | None = None
        self._queries: dict[tuple[str, str, str], str] = {}

    async def open(self) -> None:
        await self.pool.open(wait=True, timeout=30)
        self._listener = asyncio.create_task(self._listen())

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        await self.pool.close()

    def table(self, name: str) -> sql.Identifier:
        return sql.Identifier(self.views, name)

    async def one(self, query: sql.Composable | str, params: Any = None) -> Row | None:
        async with self.pool.connection() as conn:
            cur = await conn.execute(query, params, prepare=True)
            row: Row | None = await cur.fetchone()
            return row

    async def all(self, query: sql.Composable, params: Any = None) -> list[Row]:
        async with self.pool.connection() as conn:
            cur = await conn.execute(query, params, prepare=True)
            rows: list[Row] = await cur.fetchall()
            return rows

    async def by_key(self, view: str, table: str, column: str, key: Any) -> Row | None:
        """`SELECT * FROM table WHERE column = key`, through the cache of read model `view`."""
        cache = self._cache[view]
        if self._listening and key in cache:
            return cache[key]
        generation, listening = self._generation[view], self._listening
        query = self._queries.get((view, table, column))
        if query is None:
            query = sql.SQL("SELECT * FROM {} WHERE {} = %s").format(
                self.table(table), sql.Identifier(column)).as_string(None)
            self._queries[(view, table, column)] = query
        row = await self.one(query, (key,))
        if listening and self._listening and generation == self._generation[view]:
            if len(cache) >= self.cached_rows:
                cache.clear()
            cache[key] = row
        return row

    async def _listen(self) -> None:
        """Hear every projection commit; reconnect when the connection drops."""
        while True:
            try:
                async with await AsyncConnection.connect(self.database_url,
                                                         autocommit=True) as conn:
                    await conn.execute(sql.SQL("LISTEN {}").format(
                        sql.Identifier(channel(self.views))))
                    self._listening = True
                    async for note in conn.notifies():
                        view, _, position = note.payload.rpartition(":")
                        self._changed(view)
                        self._seen[view] = max(self._seen.get(view, 0), int(position))
            except (psycopg.Error, OSError) as err:
                log.warning("read-model cache off, reconnecting: %s", err)
            finally:
                self._listening = False
                for view in list(self._cache):
                    self._changed(view)
                self._seen.clear()
            await asyncio.sleep(1)

    def _changed(self, view: str) -> None:
        self._generation[view] += 1
        self._cache[view].clear()

    async def head(self) -> int:
        row = await self.one(sql.SQL("SELECT max(notification_id) AS n FROM {}").format(
            sql.Identifier(self.schema, "payoutledger_events")))
        return int(row["n"] or 0) if row else 0

    async def positions(self) -> dict[str, int]:
        from projections.registry import PROJECTIONS

        result = {}
        for name in PROJECTIONS:
            row = await self.one(sql.SQL(
                "SELECT notification_id AS n FROM {} WHERE application_name = %s").format(
                self.table(f"{name}_tracking")), (APPLICATION,))
            result[name] = int(row["n"]) if row else 0
        return result

    async def wait_for(self, position: int, *views: str) -> None:
        if position <= 0:
            return
        if self._listening and all(self._seen.get(v, 0) >= position for v in views):
            return  # announced: the read models are there already
        if position > await self.head():
            raise Problem(409, "position-unknown",
                          f"ledger position {position} has not been recorded")
        deadline = time.monotonic() + self.wait_seconds
        for view in views:
            query = sql.SQL("SELECT notification_id AS n FROM {} WHERE application_name = %s"
                            ).format(self.table(f"{view}_tracking"))
            while True:
                row = await self.one(query, (APPLICATION,))
                if row and row["n"] >= position:
                    break
                if time.monotonic() > deadline:
                    raise Problem(503, "projection-lag",
                                  f"read model {view} has not reached position {position}",
                                  headers={"Retry-After": "1"})
                await asyncio.sleep(0.02)
