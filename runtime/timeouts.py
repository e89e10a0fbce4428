"""How long anything waits for PostgreSQL or Redis: every bound in one place.

An engine that is down must cost a caller seconds, not minutes: the API answers 503 within
5 s, and every process stops within 5 s of SIGTERM. Left alone, eventsourcing retries each
recorder call 10 times and its pool waits 30 s for a connection each time (5 minutes per
call); psycopg's pool reconnects with a backoff of up to minutes; libpq waits for a silent
host as long as TCP does; and redis-py waits forever on a silent socket.

So the ledger's pools (and the projections' own) are built by `BoundedPostgresFactory`:
pool, connect and statement timeouts, a reconnect that gives up at once (the next caller
tries again, so the pool recovers as soon as PostgreSQL is back), and a datastore that stops
the library's retries once the database has failed for `FAIL_AFTER` seconds in a row. A
stale connection after a restart still gets the library's quick retry.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from eventsourcing.persistence import InterfaceError, OperationalError, PersistenceError
from eventsourcing.postgres import PostgresDatastore, PostgresFactory
from eventsourcing.utils import Environment, EnvType
from psycopg import Connection
from psycopg.rows import DictRow
from redis import Redis

POOL_WAIT = 2  # seconds a caller waits for a pooled connection (an int: eventsourcing's type)
CONNECT_TIMEOUT = 2  # libpq's connect_timeout (its minimum is 2)
RECONNECT_TIMEOUT = 1.0  # the pool gives up reconnecting; the next caller starts a new try
FAIL_AFTER = 1.5  # seconds of failures in a row before a call stops retrying
LEDGER_STATEMENT_MS = 60_000  # a 100k-holder snapshot saves in ~4 s; a lock waits 30 s
IDLE_IN_TRANSACTION = 5  # seconds: a crashed client's transaction does not hold locks
REDIS_TIMEOUT = 2.0  # seconds per Redis command (RQ raises it for its blocking dequeue)
REDIS_CONNECT_TIMEOUT = 1.0


class DatabaseUnavailable(PersistenceError):
    """PostgreSQL failed for `FAIL_AFTER` seconds in a row. Not an eventsourcing
    `OperationalError`, on purpose: the library does not retry it. Raised from the last
    connection error, which callers can find on `__cause__`."""


def libpq_options(statement_ms: int) -> dict[str, Any]:
    """Connection keywords bounding a connect, a statement and a dead peer."""
    return {"connect_timeout": CONNECT_TIMEOUT,
            "options": f"-c statement_timeout={statement_ms}",
            "keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5,
            "keepalives_count": 2}


class FailFastDatastore(PostgresDatastore):
    """A PostgresDatastore whose calls give up after `FAIL_AFTER` seconds of failures.

    The library retries a failed recorder call (a fresh `get_connection` each time) up to 10
    times; a thread's failures that follow each other (less than `FAIL_AFTER` apart) form one
    episode, and once an episode is `FAIL_AFTER` old the next failure is `DatabaseUnavailable`,
    which the retry lets through. Any success ends the episode.
    """

    _episode: threading.local

    @contextmanager
    def get_connection(self) -> Iterator[Connection[DictRow]]:
        started = time.monotonic()
        try:
            with super().get_connection() as conn:
                yield conn
        except (OperationalError, InterfaceError) as err:
            self._failed(started, err)
            raise
        self._episode.since = None

    def _failed(self, started: float, err: PersistenceError) -> None:
        now, episode = time.monotonic(), self._episode
        since: float | None = getattr(episode, "since", None)
        if since is None or now - getattr(episode, "last", 0.0) > FAIL_AFTER:
            since = started
        episode.since, episode.last = since, now
        if now - since >= FAIL_AFTER:
            episode.since = None
            raise DatabaseUnavailable(f"PostgreSQL unavailable for {now - since:.1f}s: {err}"
                                      ) from err


def bound(datastore: PostgresDatastore, *, statement_ms: int = LEDGER_STATEMENT_MS
          ) -> PostgresDatastore:
    """Apply the bounds to a datastore whose pool has not opened yet (the library opens it on
    first use). The class swap keeps everything the library's constructor set up."""
    datastore.__class__ = FailFastDatastore
    assert isinstance(datastore, FailFastDatastore)
    datastore._episode = threading.local()
    pool = datastore.pool
    pool.timeout = POOL_WAIT
    pool.reconnect_timeout = RECONNECT_TIMEOUT
    assert isinstance(pool.kwargs, dict)
    pool.kwargs.update(libpq_options(statement_ms))
    return datastore


class BoundedPostgresFactory(PostgresFactory):
    """eventsourcing's Postgres persistence, bounded (PERSISTENCE_MODULE names this class)."""

    def __init__(self, env: Environment | EnvType | None) -> None:
        super().__init__(env)
        bound(self.datastore)


def ledger_settings() -> dict[str, str]:
    """eventsourcing's own variables for the same bounds (see `ledger_env`)."""
    return {
        "PERSISTENCE_MODULE": f"{__name__}:{BoundedPostgresFactory.__name__}",
        "POSTGRES_CONNECT_TIMEOUT": str(POOL_WAIT),  # the library's name for the pool's wait
        "POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT": str(IDLE_IN_TRANSACTION),
    }


def redis_client(url: str) -> Redis:
    """A Redis client that cannot hang on a silent server."""
    return Redis.from_url(url, socket_timeout=REDIS_TIMEOUT,
                          socket_connect_timeout=REDIS_CONNECT_TIMEOUT,
                          health_check_interval=30)
