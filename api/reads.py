"""The read side of the API: an async pool on the read models, a cache, and read-your-writes.

Reads come only from the `<schema>_views` tables the projections maintain. A read that
names `wait_for_position` waits (bounded) until its read model has processed that ledger
position; a position the ledger has not reached is a 409 conflict (not yet), not a wait.

Rows fetched by key (one distribution, one asset) and encoded pages (a list route's answer
to one set of parameters) are cached per process, and a read model's cache is dropped
whenever its projection commits: projections announce every commit with NOTIFY, delivered
after the commit, and a listener here hears them. So a cached value is never older than what
the database would answer, give or take the notification's delivery (sub-millisecond on one
host; a read-your-writes wait that sees the commit before its notification drops the cache
itself). A read that raced a commit is not cached (a generation count per read model), and
while the listener is not connected nothing is cached at all.

Outages: a caller waits at most `POOL_WAIT` seconds for a connection, a connect attempt and a
statement are bounded too, and the pool gives up reconnecting at once (the next read tries
again, so reads work again as soon as PostgreSQL is back). Each failure is a psycopg
`OperationalError`, which api.problems answers with a 503.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Hashable, Iterator
from typing import Any, TypeVar, cast

import psycopg
from psycopg import AsyncConnection, sql
from psycopg.rows import dict_row, tuple_row
from psycopg_pool import AsyncConnectionPool

from api.problems import Problem
from projections.store import APPLICATION, channel, views_schema

log = logging.getLogger(__name__)
POOL_WAIT = 2.0  # seconds a read waits for a pooled connection
RECONNECT_TIMEOUT = 1.0  # then the pool gives up; the next read starts a new attempt
STATEMENT_MS = 15_000  # a report over 100k holders takes a few seconds
CONNECT_OPTIONS: dict[str, Any] = {
    "connect_timeout": 2, "options": f"-c statement_timeout={STATEMENT_MS}",
    "keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5, "keepalives_count": 2}
Row = dict[str, Any]
T = TypeVar("T")


class ReadModels:
    def __init__(self, database_url: str, schema: str, *, pool_size: int = 8,
                 wait_seconds: float = 5.0, cached_rows: int = 10_000,
                 cached_bytes: int = 32 << 20) -> None:
        self.database_url = database_url
        self.schema = schema
        self.views = views_schema(schema)
        self.wait_seconds = wait_seconds
        self.cached_rows = cached_rows  # entries per read model
        self.cached_bytes = cached_bytes  # encoded pages per read model
        # Bounded waits (see "Outages" above): a read answers 503 within seconds.
        self.pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
            database_url, min_size=min(4, pool_size), max_size=pool_size, open=False,
            timeout=POOL_WAIT, reconnect_timeout=RECONNECT_TIMEOUT,
            kwargs={"autocommit": True, "row_factory": dict_row, **CONNECT_OPTIONS})
        self._cache: dict[str, dict[Hashable, Any]] = defaultdict(dict)
        self._bytes: dict[str, int] = defaultdict(int)
        self._loading: dict[str, dict[Hashable, tuple[int, asyncio.Future[Any]]]] = \
            defaultdict(dict)
        self._generation: dict[str, int] = defaultdict(int)
        self._seen: dict[str, int] = {}  # read model -> last position announced
        self._listening = False
        self._listener: asyncio.Task[None] | None = None
        self._queries: dict[tuple[str, str, str], str] = {}
        self._subscribers: set[asyncio.Queue[str]] = set()

    async def open(self) -> None:
        await self.pool.open(wait=True, timeout=30)
        self._listener = asyncio.create_task(self._listen())

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        await self.pool.close(timeout=2)

    def table(self, name: str) -> sql.Identifier:
        return sql.Identifier(self.views, name)

    async def one(self, query: sql.Composable | str, params: Any = None) -> Row | None:
        async def run(conn: Any) -> Row | None:
            cur = await conn.execute(query, params, prepare=True)
            row: Row | None = await cur.fetchone()
            return row
        return await self.run(run)

    async def all(self, query: sql.Composable, params: Any = None) -> list[Row]:
        async def run(conn: Any) -> list[Row]:
            cur = await conn.execute(query, params, prepare=True)
            rows: list[Row] = await cur.fetchall()
            return rows
        return await self.run(run)

    async def tuples(self, query: sql.Composable | str, params: Any = None
                     ) -> list[tuple[Any, ...]]:
        """Rows as tuples, in binary: for pages that become Structs positionally."""
        async def run(conn: Any) -> list[tuple[Any, ...]]:
            cur = conn.cursor(row_factory=tuple_row, binary=True)
            await cur.execute(query, params, prepare=True)
            found: list[tuple[Any, ...]] = await cur.fetchall()
            return found
        return await self.run(run)

    async def run(self, work: Callable[[Any], Awaitable[T]]) -> T:
        """`await work(conn)` on a pooled connection. A connection that broke (PostgreSQL
        restarted since it was opened) makes the pool drop every broken one and the work run
        once more; any other error, or a second break, is the caller's (a 503, see
        api.problems)."""
        broken = False
        try:
            async with self.pool.connection() as conn:
                try:
                    return await work(conn)
                except psycopg.OperationalError:
                    broken = conn.broken
                    raise
        except psycopg.OperationalError:
            if not broken:
                raise
        await self.pool.check()
        async with self.pool.connection() as conn:
            return await work(conn)

    async def cached(self, view: str, key: Hashable, load: Callable[[], Awaitable[T]]) -> T:
        """`await load()`, through the cache of read model `view` (see the module's doc).

        Concurrent misses of one key share one load (after a commit drops the cache, fifty
        clients polling a page cost one query, not fifty), unless a commit came between: a
        read that starts after a commit never shares a load that started before it.
        """
        if not self._listening:
            return await load()  # commits go unheard: every read asks the database
        cache = self._cache[view]
        if key in cache:
            return cast("T", cache[key])
        generation = self._generation[view]
        loading = self._loading[view]
        pending = loading.get(key)
        if pending is None or pending[0] != generation:
            task = asyncio.ensure_future(self._load(view, key, generation, load))
            pending = loading[key] = (generation, task)
            task.add_done_callback(lambda done: self._loaded(view, key, done))
        # Shielded: a client that goes away does not cancel the others' load.
        return cast("T", await asyncio.shield(pending[1]))

    async def _load(self, view: str, key: Hashable, generation: int,
                    load: Callable[[], Awaitable[T]]) -> T:
        value = await load()
        if self._listening and generation == self._generation[view]:
            cache = self._cache[view]
            size = len(value) if isinstance(value, bytes) else 0
            if len(cache) >= self.cached_rows or self._bytes[view] + size > self.cached_bytes:
                cache.clear()
                self._bytes[view] = 0
            cache[key] = value
            self._bytes[view] += size
        return value

    def _loaded(self, view: str, key: Hashable, task: asyncio.Future[Any]) -> None:
        loading = self._loading[view]
        if key in loading and loading[key][1] is task:
            del loading[key]
        if not task.cancelled():
            task.exception()  # retrieved: every waiter may have gone away

    async def by_key(self, view: str, table: str, column: str, key: Any) -> Row | None:
        """`SELECT * FROM table WHERE column = key`, through the cache of read model `view`."""
        query = self._queries.get((view, table, column))
        if query is None:
            query = sql.SQL("SELECT * FROM {} WHERE {} = %s").format(
                self.table(table), sql.Identifier(column)).as_string(None)
            self._queries[(view, table, column)] = query
        return await self.cached(view, (table, column, key), lambda: self.one(query, (key,)))

    async def _listen(self) -> None:
        """Hear every projection commit; reconnect when the connection drops."""
        while True:
            try:
                async with await AsyncConnection.connect(
                        self.database_url, autocommit=True, **CONNECT_OPTIONS) as conn:
                    await conn.execute(sql.SQL("LISTEN {}").format(
                        sql.Identifier(channel(self.views))))
                    self._listening = True
                    async for note in conn.notifies():
                        view, _, position = note.payload.rpartition(":")
                        self._changed(view)
                        self._seen[view] = max(self._seen.get(view, 0), int(position))
                        self._tell(view)
            except (psycopg.Error, OSError) as err:
                log.warning("read-model cache off, reconnecting: %s", err)
            finally:
                self._listening = False
                for view in list(self._cache):
                    self._changed(view)
                self._seen.clear()
            await asyncio.sleep(1)

    @contextlib.contextmanager
    def changes(self, backlog: int = 256) -> Iterator[asyncio.Queue[str]]:
        """Hear which read models commit, while inside: the panel's live pages (server-sent
        events) follow the same notifications as the cache, with no polling. A subscriber
        that falls `backlog` behind misses changes, not the connection (a page refetches
        its fragment on any change of its read model, so one notice stands for many)."""
        queue: asyncio.Queue[str] = asyncio.Queue(backlog)
        self._subscribers.add(queue)
        try:
            yield queue
        finally:
            self._subscribers.discard(queue)

    def _tell(self, view: str) -> None:
        for queue in self._subscribers:
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(view)

    def forget(self, view: str) -> None:
        """Drop this process's cache of `view` now: a write this process just committed must
        not wait for its own NOTIFY to come back (under load that took long enough for a
        signed-out session to be accepted once more)."""
        self._changed(view)

    def _changed(self, view: str) -> None:
        self._generation[view] += 1
        self._cache[view].clear()
        self._bytes[view] = 0

    async def head(self) -> int:
        row = await self.one(sql.SQL("SELECT max(notification_id) AS n FROM {}").format(
            sql.Identifier(self.schema, "payoutledger_events")))
        return int(row["n"] or 0) if row else 0

    async def position(self, view: str) -> int:
        """How far read model `view` has processed the ledger."""
        try:
            row = await self.one(sql.SQL(
                "SELECT notification_id AS n FROM {} WHERE application_name = %s").format(
                self.table(f"{view}_tracking")), (APPLICATION,))
        except psycopg.errors.UndefinedTable:
            row = None  # a read model the projector has not started yet (a new one)
        return int(row["n"]) if row else 0

    async def positions(self) -> dict[str, int]:
        from projections.registry import PROJECTIONS

        return {name: await self.position(name) for name in PROJECTIONS}

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
            while True:
                if await self.position(view) >= position:
                    if self._seen.get(view, 0) < position:
                        self._changed(view)  # committed, not yet announced: drop the cache
                    break
                if time.monotonic() > deadline:
                    raise Problem(503, "projection-lag",
                                  f"read model {view} has not reached position {position}",
                                  headers={"Retry-After": "1"})
                await asyncio.sleep(0.02)
