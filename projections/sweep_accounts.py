"""Each asset's sweep accounts: one row per configured destination (TAX_AUTHORITY, DUST), with
who set that account, when and why. The API's `GET /assets/{id}/sweep-accounts`, the asset
page and the treasury section read them here; domain.asset decides them.

`Asset.SweepAccountsSet` names both accounts every time (None clears one). A row is replaced
only when its account changes, so setting the dust account leaves the tax authority's row,
and the person who set that account, as they were: "set by" answers for the account shown.
"""

from __future__ import annotations

from typing import Any

from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.persistence import Tracking
from psycopg import sql

from domain.asset import Asset
from domain.treasury import SweepDestination
from projections.base import SegmentedProjection, topics
from projections.store import ViewStore

TABLE = "sweep_accounts"


class SweepAccountsView(SegmentedProjection):
    name = "sweep_accounts"
    tables = (TABLE,)
    topics = topics(Asset.SweepAccountsSet)

    @staticmethod
    def ddl(store: ViewStore) -> list[sql.Composed]:
        return [sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} (asset_id uuid NOT NULL, destination text NOT NULL,"
            " account text NOT NULL, set_by text NOT NULL, set_at timestamptz NOT NULL,"
            " reason text NOT NULL, position bigint NOT NULL,"
            " PRIMARY KEY (asset_id, destination))").format(store.table(TABLE))]

    @singledispatchmethod
    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        """Events of other topics never reach this projection."""

    @process_event.register
    def _set(self, e: Asset.SweepAccountsSet, tracking: Tracking) -> None:
        for destination, account in ((SweepDestination.TAX_AUTHORITY, e.tax_authority),
                                     (SweepDestination.DUST, e.dust)):
            if account is None:
                self.segments.add(self.handler("cleared", lambda: sql.SQL(
                    "DELETE FROM {} WHERE asset_id = %s AND destination = %s").format(
                    self.view.table(TABLE))), (e.originator_id, destination.value))
                continue
            self.segments.add(self.handler("set", lambda: sql.SQL(
                "INSERT INTO {0} AS s VALUES (%s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (asset_id, destination) DO UPDATE SET account = excluded.account,"
                " set_by = excluded.set_by, set_at = excluded.set_at,"
                " reason = excluded.reason, position = excluded.position"
                " WHERE s.account <> excluded.account").format(self.view.table(TABLE))),
                (e.originator_id, destination.value, account, e.actor, e.timestamp, e.reason,
                 tracking.notification_id))
