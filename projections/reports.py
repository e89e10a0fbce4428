"""Withholding rates: the rate each distribution applies, default and per-account overrides.

The tax reports show the rate a holder's withholding was computed with, not a rate guessed
back from `withheld / gross` (floor rounding makes that inexact). The rates are fixed when a
distribution is created (its terms never change), so one row per rate is written once.

A distribution's default rate is the row whose `account` is '' (an account is never empty);
an override is the row of that (canonical) account. The rate of a holder is the override's,
else the default: `projections.reports_sql.RATE` reads it that way.
"""

from __future__ import annotations

from typing import Any

from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.persistence import Tracking
from psycopg import Cursor, sql
from psycopg.rows import DictRow

from domain.distribution import Distribution
from projections.base import TableProjection, topics
from projections.store import ViewStore

TABLE = "withholding_rates"
DEFAULT = ""  # the `account` of a distribution's default rate


class WithholdingRates(TableProjection):
    name = "withholding_rates"
    tables = (TABLE,)
    topics = topics(Distribution.Created)

    def __init__(self, view: ViewStore) -> None:
        super().__init__(view)
        self.rows: list[tuple[Any, str, int]] = []

    def reset(self) -> None:
        self.rows.clear()

    @staticmethod
    def ddl(store: ViewStore) -> list[sql.Composed]:
        return [sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} (distribution_id uuid NOT NULL, account text NOT NULL,"
            " bps int NOT NULL, PRIMARY KEY (distribution_id, account))"
        ).format(store.table(TABLE))]

    @singledispatchmethod
    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        """Events of other topics never reach this projection."""

    @process_event.register
    def _created(self, e: Distribution.Created, tracking: Tracking) -> None:
        withholding = e.terms.withholding
        self.rows.append((e.originator_id, DEFAULT, withholding.default_bps))
        self.rows.extend((e.originator_id, account, bps)
                         for account, bps in withholding.overrides)

    def write(self, cur: Cursor[DictRow]) -> None:
        if self.rows:
            cur.executemany(sql.SQL("INSERT INTO {} VALUES (%s, %s, %s) ON CONFLICT DO NOTHING"
                                    ).format(self.view.table(TABLE)), self.rows)
            self.rows.clear()
