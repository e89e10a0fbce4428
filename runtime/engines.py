"""The engines a process talks to: the ledger on PostgreSQL (configured or embedded).

Every process opens its ledger here (`open_ledger`); CLI tools that may run on a bare
machine use `database`/`ledger_session`, which start the embedded PostgreSQL when
DATABASE_URL is unset.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from app.audit_log import install_chain
from app.ledger import PayoutLedger
from runtime.embedded import embedded_postgres
from runtime.settings import Settings
from runtime.timeouts import CONNECT_TIMEOUT, ledger_settings


def ledger_env(database_url: str, schema: str) -> dict[str, str]:
    """eventsourcing's Postgres settings from a libpq URL (TCP or a unix socket directory)."""
    parts = conninfo_to_dict(database_url)
    return {
        # eventsourcing.postgres with pool, connect and statement timeouts, and no minutes of
        # retries when PostgreSQL is down (runtime.timeouts).
        **ledger_settings(),
        "POSTGRES_DBNAME": str(parts.get("dbname") or "postgres"),
        "POSTGRES_HOST": str(parts.get("host") or "127.0.0.1"),
        "POSTGRES_PORT": str(parts.get("port") or "5432"),
        "POSTGRES_USER": str(parts.get("user") or "postgres"),
        "POSTGRES_PASSWORD": str(parts.get("password") or ""),
        "POSTGRES_SCHEMA": schema,
        "CREATE_TABLE": "y",
        # Insert through the library's stored function, not its pipelined unnest: a save of
        # ~20k+ events (one big snapshot) hangs the psycopg pipeline here (measured with
        # eventsourcing 9.5.6 / psycopg 3.3.9), while the function path writes 100k in ~4 s.
        "POSTGRES_ENABLE_DB_FUNCTIONS": "y",
        # A 100k-holder snapshot is one atomic save; give it room before a lock wait aborts.
        "POSTGRES_LOCK_TIMEOUT": "30",
        "POSTGRES_POOL_SIZE": "5",
        # Workers and the ingestor load the same batches again and again: keep them cached
        # and fast-forward from the store (only newer events are read). Commands mutate a
        # deep copy, so a refused or conflicting save never leaves the cache ahead of the store.
        "AGGREGATE_CACHE_MAXSIZE": "500",
    }


SETUP_LOCK = 0x6D70_5365_7475_7000  # "mpSetup": serializes DDL across processes


def create_schema(database_url: str, schema: str) -> None:
    with psycopg.connect(database_url, autocommit=True, connect_timeout=CONNECT_TIMEOUT) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))


def open_ledger(database_url: str, schema: str) -> PayoutLedger:
    """Create the schema and the event store's tables and functions, one process at a time.

    Every process runs the library's idempotent DDL at start, and PostgreSQL refuses two
    concurrent `CREATE OR REPLACE FUNCTION`s ("tuple concurrently updated"): workers, the
    ingestor and the supervisor start together, so setup takes a cluster-wide advisory lock.
    The events' hash chain is installed (or, on an older store, backfilled) under it too.
    """
    with psycopg.connect(database_url, autocommit=True, connect_timeout=CONNECT_TIMEOUT) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (SETUP_LOCK,))
        try:
            create_schema(database_url, schema)
            ledger = PayoutLedger(env=ledger_env(database_url, schema))
            try:
                install_chain(ledger)  # tamper evidence (app.audit_log); a no-op once there
            except BaseException:
                ledger.close()
                raise
            return ledger
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (SETUP_LOCK,))


@contextlib.contextmanager
def database(settings: Settings, data_dir: Path | None = None) -> Iterator[str]:
    """DATABASE_URL when set; otherwise a real PostgreSQL from pgserver under var/."""
    if settings.database_url:
        yield settings.database_url
        return
    with embedded_postgres(data_dir or settings.var_dir / "postgres") as url:
        yield url


@contextlib.contextmanager
def ledger_session(settings: Settings, schema: str | None = None) -> Iterator[PayoutLedger]:
    with database(settings) as url:
        ledger = open_ledger(url, schema or settings.schema)
        try:
            yield ledger
        finally:
            ledger.close()
