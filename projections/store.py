"""Where a projection's rows and its tracking position live: the `<schema>_views` schema.

`ViewStore` extends the library's Postgres tracking recorder (its table, `max_tracking_id`,
`wait`), and adds what batching needs: a compare-and-set of the position in the same
transaction as the rows. A writer that started from a stale position (another runner, or a
rebuild swapped in under it) fails the compare and retries; nothing is applied twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from eventsourcing.postgres import PostgresDatastore, PostgresTrackingRecorder
from psycopg import Connection, Cursor, sql
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import DictRow

APPLICATION = "PayoutLedger"
VERSION_PREFIX = "projection version "

Write = Callable[[Cursor[DictRow]], Any]


class StaleTracking(Exception):
    """The position moved since this writer read it: roll back and start again."""


def views_schema(schema: str) -> str:
    return f"{schema}_views"


def channel(views: str) -> str:
    """Where commits to the read models in `views` are announced: `<projection>:<position>`
    (the API's row cache listens)."""
    return f"{views}_changed"


def announce(cur: Cursor[Any], views: str, name: str, position: int) -> None:
    """Delivered on commit, and only then: listeners never hear of rows they cannot read."""
    cur.execute("SELECT pg_notify(%s, %s)", (channel(views), f"{name}:{position}"))


def views_datastore(database_url: str, schema: str, pool_size: int = 2) -> PostgresDatastore:
    parts = conninfo_to_dict(database_url)
    return PostgresDatastore(
        dbname=str(parts.get("dbname") or "postgres"),
        host=str(parts.get("host") or "127.0.0.1"),
        port=str(parts.get("port") or "5432"),
        user=str(parts.get("user") or "postgres"),
        password=str(parts.get("password") or ""),
        schema=views_schema(schema),
        pool_size=pool_size,
        lock_timeout=30,
    )


class ViewStore(PostgresTrackingRecorder):
    """Tables of one incarnation of a projection: `<base><suffix>` plus its tracking table."""

    def __init__(self, datastore: PostgresDatastore, *, name: str, suffix: str = "") -> None:
        self.base_name = name
        self.suffix = suffix
        super().__init__(datastore, tracking_table_name=f"{name}{suffix}_tracking")

    def table(self, base: str) -> sql.Identifier:
        return sql.Identifier(self.datastore.schema, f"{base}{self.suffix}")

    def table_name(self, base: str) -> str:
        return f"{base}{self.suffix}"

    def setup(self, ddl: Callable[[ViewStore], list[sql.Composed]],
              tables: tuple[str, ...], *,
              added_columns: Callable[[ViewStore], list[sql.Composed]] | None = None,
              version: int = 1) -> None:
        """Create the schema, the tracking table (position 0) and the projection's tables.

        Tables that exist are left alone: after a rebuild their indexes carry the rebuild's
        names, and re-running the DDL would add duplicates. Added columns are idempotent and
        always run. Tables created here are stamped with `version` (see `version()`).
        """
        with self.datastore.get_connection() as conn:
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(
                sql.Identifier(self.datastore.schema)))
        self.create_table()
        with self.datastore.transaction(commit=True) as cur:
            cur.execute("SELECT count(to_regclass(t)) AS n FROM unnest(%s::text[]) AS t",
                        ([f'"{self.datastore.schema}"."{self.table_name(t)}"' for t in tables],))
            row = cur.fetchone()
            if row is None or row["n"] < len(tables):
                for statement in ddl(self):
                    cur.execute(statement)
                if row is None or row["n"] == 0:  # all new: they hold what this code writes
                    cur.execute(sql.SQL("COMMENT ON TABLE {} IS {}").format(
                        self.tracking(), sql.Literal(f"{VERSION_PREFIX}{version}")))
            for statement in (added_columns(self) if added_columns else []):
                cur.execute(statement)
            cur.execute(
                sql.SQL("INSERT INTO {} VALUES (%s, 0) ON CONFLICT DO NOTHING").format(
                    self.tracking()),
                (APPLICATION,),
            )

    def tracking(self) -> sql.Identifier:
        return sql.Identifier(self.datastore.schema, self.tracking_table_name)

    def version(self) -> int:
        """The projection version that built these tables: the stamp on the tracking table
        (a comment, so it follows the table through a rebuild's rename); unstamped is 1."""
        with self.datastore.transaction(commit=False) as cur:
            cur.execute("SELECT obj_description(to_regclass(%s), 'pg_class') AS stamp",
                        (f'"{self.datastore.schema}"."{self.tracking_table_name}"',))
            row = cur.fetchone()
        stamp = str(row["stamp"] or "") if row else ""
        return int(stamp.removeprefix(VERSION_PREFIX)) if stamp.startswith(VERSION_PREFIX) else 1

    def position(self) -> int:
        return self.max_tracking_id(APPLICATION) or 0

    @contextmanager
    def connection(self) -> Iterator[Connection[DictRow]]:
        with self.datastore.get_connection() as conn:
            yield conn

    def commit(self, conn: Connection[DictRow], previous: int, new: int, write: Write) -> None:
        """Rows and position in one transaction, or neither (exactly-once)."""
        with conn.transaction(), conn.cursor() as cur:
            # Compare-and-set first: it also locks the tracking row, so competing writers
            # queue here and the loser writes no rows at all.
            cur.execute(
                sql.SQL("UPDATE {} SET notification_id = %s WHERE application_name = %s"
                        " AND notification_id = %s").format(self.tracking()),
                (new, APPLICATION, previous),
            )
            if cur.rowcount != 1:
                raise StaleTracking(f"{self.tracking_table_name} is no longer at {previous}")
            write(cur)
            if not self.suffix:  # a rebuild's fresh tables announce themselves when swapped in
                announce(cur, self.datastore.schema, self.base_name, new)
