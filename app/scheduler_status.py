"""What the leading scheduler last did, for operators: when it last ticked, how many ticks and
item errors it has counted, and which schedules or distributions fail right now, with why.

One row of `<schema>.scheduler_status`, overwritten every tick. It is operational state, not
part of the audit trail: the ledger records what the scheduler changed; this says what it
could not do (an RPC that is down, a token that refuses a snapshot) while it keeps trying.
The API serves it at `GET /scheduler` and in `/metrics`.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

log = logging.getLogger("mass_payout")

TABLE = "scheduler_status"
ROW = "leader"  # one row: only the leader ticks


def table(schema: str) -> sql.Identifier:
    return sql.Identifier(schema, TABLE)


class StatusBoard:
    """The scheduler's side: record each tick. A failure to record is logged and never stops
    the scheduler (the next tick writes the whole row again)."""

    def __init__(self, database_url: str, schema: str) -> None:
        self._url = database_url
        self._table = table(schema)
        self._conn: psycopg.Connection[Any] | None = None

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self._url, autocommit=True)
            self._conn.execute(sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (name text PRIMARY KEY,"
                " last_tick_at timestamptz NOT NULL, ticks bigint NOT NULL,"
                " errors_total bigint NOT NULL, failing jsonb NOT NULL)").format(self._table))
        return self._conn

    def record(self, *, at: datetime, done: Counter[str], failing: dict[UUID, str]) -> None:
        try:
            self._connection().execute(sql.SQL(
                "INSERT INTO {t} AS s VALUES (%(name)s, %(at)s, 1, %(errors)s, %(failing)s)"
                " ON CONFLICT (name) DO UPDATE SET last_tick_at = EXCLUDED.last_tick_at,"
                " ticks = s.ticks + 1, errors_total = s.errors_total + EXCLUDED.errors_total,"
                " failing = EXCLUDED.failing").format(t=self._table), {
                    "name": ROW, "at": at, "errors": done["errors"],
                    "failing": Jsonb({str(k): v for k, v in sorted(failing.items())})})
        except psycopg.Error as err:
            log.warning("scheduler status not recorded: %s", err)
            self.close()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
