"""Holders per asset: the balances of the asset's latest snapshot.

A new snapshot replaces the asset's holder list (events arrive in order, so the latest
snapshot wins). Holders between snapshots, from the token's ingested transfers, are the
`live_holders` read model's (projections/live_holders.py).
"""

from __future__ import annotations

from typing import Any

from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.persistence import Tracking
from psycopg import Cursor, sql
from psycopg.rows import DictRow

from domain.batch import PayoutBatch
from domain.distribution import Distribution
from projections.base import Segments, TableProjection, executemany, topics
from projections.store import ViewStore

TABLE, LINKS = "asset_holders", "asset_holders_links"


class AssetHolders(TableProjection):
    name = "asset_holders"
    tables = (TABLE, LINKS)
    topics = topics(Distribution.Created, Distribution.Snapshotted, PayoutBatch.Planned,
                    PayoutBatch.HoldersEntitled, PayoutBatch.HolderEntitled)

    def __init__(self, view: ViewStore) -> None:
        super().__init__(view)
        self.segments = Segments()
        # Links are only read by the holder statements below, so they are written first: the
        # entitled rows of consecutive batches (Planned and HoldersEntitled alternate) then
        # go as one statement instead of one per batch.
        self.links = Segments()
        t, links = view.table(TABLE), view.table(LINKS)
        self._link_distribution = executemany(sql.SQL(
            "INSERT INTO {} VALUES (%s, %s, NULL) ON CONFLICT DO NOTHING").format(links))
        self._link_batch = executemany(sql.SQL(
            "INSERT INTO {l} SELECT %(batch)s, asset_id, %(dist)s FROM {l} WHERE id = %(dist)s"
            " ON CONFLICT DO NOTHING").format(l=links))
        self._replace = executemany(sql.SQL(
            "DELETE FROM {} WHERE asset_id = (SELECT asset_id FROM {} WHERE id = %s)"
        ).format(t, links))
        # Entitled rows arrive by the 100,000 (a snapshot, or a replay): COPY them into a
        # session's scratch table, then upsert with one statement. Passing them as arrays
        # and one statement per batch cost most of a replay (11.5 of 16.8 s at 100,000).
        self._entitled_sql = sql.SQL(
            "INSERT INTO {t} (asset_id, account, balance, distribution_id, updated_at)"
            " SELECT l.asset_id, u.account, u.balance, l.distribution_id, u.at"
            " FROM pg_temp.asset_holders_in AS u JOIN {l} AS l ON l.id = u.batch_id"
            " WHERE u.balance > 0 ON CONFLICT (asset_id, account) DO UPDATE SET"
            " balance = EXCLUDED.balance, distribution_id = EXCLUDED.distribution_id,"
            " updated_at = EXCLUDED.updated_at").format(t=t, l=links)

    def reset(self) -> None:
        self.links.clear()
        self.segments.clear()

    @staticmethod
    def ddl(store: ViewStore) -> list[sql.Composed]:
        return [
            sql.SQL("CREATE TABLE IF NOT EXISTS {} (id uuid PRIMARY KEY, asset_id uuid NOT NULL,"
                    " distribution_id uuid)").format(store.table(LINKS)),
            sql.SQL("CREATE TABLE IF NOT EXISTS {} (asset_id uuid NOT NULL, account text NOT NULL,"
                    " balance numeric(78) NOT NULL, distribution_id uuid NOT NULL,"
                    " updated_at timestamptz NOT NULL, PRIMARY KEY (asset_id, account))"
                    ).format(store.table(TABLE)),
        ]

    def _entitled(self, cur: Cursor[DictRow], rows: list[tuple[Any, ...]]) -> None:
        cur.execute("CREATE TEMP TABLE IF NOT EXISTS asset_holders_in (batch_id uuid,"
                    " account text, balance numeric, at timestamptz) ON COMMIT DELETE ROWS")
        with cur.copy("COPY pg_temp.asset_holders_in FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        cur.execute(self._entitled_sql)
        cur.execute("TRUNCATE pg_temp.asset_holders_in")  # the next segment starts empty

    @singledispatchmethod
    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        """Events of other topics never reach this projection."""

    @process_event.register
    def _created(self, e: Distribution.Created, tracking: Tracking) -> None:
        self.links.add(self._link_distribution, (e.originator_id, e.asset_id))

    @process_event.register
    def _snapshotted(self, e: Distribution.Snapshotted, tracking: Tracking) -> None:
        self.segments.add(self._replace, (e.originator_id,))

    @process_event.register
    def _planned(self, e: PayoutBatch.Planned, tracking: Tracking) -> None:
        self.links.add(self._link_batch, {"batch": e.originator_id, "dist": e.distribution_id})

    @process_event.register
    def _holders(self, e: PayoutBatch.HoldersEntitled, tracking: Tracking) -> None:
        for row in e.holders:  # rows of HOLDER_FIELDS: account, balance are 2nd and 3rd
            self.segments.add(self._entitled, (e.originator_id, row[1], row[2], e.timestamp))

    @process_event.register
    def _holder(self, e: PayoutBatch.HolderEntitled, tracking: Tracking) -> None:
        self.segments.add(self._entitled, (e.originator_id, e.account, e.balance, e.timestamp))

    def write(self, cur: Cursor[DictRow]) -> None:
        self.links.write(cur)
        self.segments.write(cur)
