"""Assets: the imported tokens, their payment token, vault and pause/sync switches."""

from __future__ import annotations

from typing import Any

from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.persistence import Tracking
from psycopg import sql

from domain.asset import Asset
from projections.base import SegmentedProjection, topics
from projections.store import ViewStore

TABLE = "assets"


class Assets(SegmentedProjection):
    name = "assets"
    tables = (TABLE,)
    topics = topics(Asset.Imported, Asset.Paused, Asset.Resumed, Asset.SyncSwitched,
                    Asset.VaultLinked)

    @staticmethod
    def ddl(store: ViewStore) -> list[sql.Composed]:
        return [sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} (asset_id uuid PRIMARY KEY, chain_id bigint NOT NULL,"
            " token_address text NOT NULL, name text NOT NULL, symbol text NOT NULL,"
            " decimals int NOT NULL, kind text NOT NULL, payment_token text NOT NULL,"
            " payment_decimals int NOT NULL, vault_address text, paused boolean NOT NULL,"
            " pause_reason text, sync_enabled boolean NOT NULL, imported_by text NOT NULL,"
            " imported_at timestamptz NOT NULL, updated_at timestamptz NOT NULL,"
            " position bigint NOT NULL)").format(store.table(TABLE))]

    def _set(self, key: str, e: Any, tracking: Tracking, assignments: str,
             **values: Any) -> None:
        handler = self.handler(key, lambda: sql.SQL(
            "UPDATE {} SET " + assignments + ", updated_at = %(at)s, position = %(pos)s"  # noqa: S608
            " WHERE asset_id = %(id)s").format(self.view.table(TABLE)))
        values.update(id=e.originator_id, at=e.timestamp, pos=tracking.notification_id)
        self.segments.add(handler, values)

    @singledispatchmethod
    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        """Events of other topics never reach this projection."""

    @process_event.register
    def _imported(self, e: Asset.Imported, tracking: Tracking) -> None:
        self.segments.add(self.handler("imported", lambda: sql.SQL(
            "INSERT INTO {} VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, false, NULL,"
            " true, %s, %s, %s, %s) ON CONFLICT DO NOTHING").format(self.view.table(TABLE))), (
            e.originator_id, e.chain_id, e.token_address, e.name, e.symbol, e.decimals, e.kind,
            e.payment_token, e.payment_decimals, e.vault_address, e.actor, e.timestamp,
            e.timestamp, tracking.notification_id))

    @process_event.register
    def _paused(self, e: Asset.Paused, tracking: Tracking) -> None:
        self._set("paused", e, tracking, "paused = true, pause_reason = %(reason)s",
                  reason=e.reason)

    @process_event.register
    def _resumed(self, e: Asset.Resumed, tracking: Tracking) -> None:
        self._set("resumed", e, tracking, "paused = false, pause_reason = NULL")

    @process_event.register
    def _sync(self, e: Asset.SyncSwitched, tracking: Tracking) -> None:
        self._set("sync", e, tracking, "sync_enabled = %(enabled)s", enabled=e.enabled)

    @process_event.register
    def _vault(self, e: Asset.VaultLinked, tracking: Tracking) -> None:
        self._set("vault", e, tracking, "vault_address = %(vault)s", vault=e.vault_address)
