"""Vault requests (pause, unpause, grant, revoke, upgrade) of each asset's vault, one row
each: what was asked, by whom, who approved it, the transaction and what came of it (for an
upgrade, also its implementation's deployment and the contract it made); and, in
`vault_observed`, every administration of the vault its log shows that no request sent (an
admin's own call, the roles granted at deployment). Rows are keyed by the aggregate's id,
`VaultOps.create_id(asset_id)`: readers derive it.

The panel's asset page and the API list them from here; domain.vault_admin decides them.
"""

from __future__ import annotations

from typing import Any

from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.persistence import Tracking
from psycopg import sql

from domain.vault_admin import VaultOps
from projections.base import SegmentedProjection, topics
from projections.store import ViewStore

TABLE = "vault_ops"
OBSERVED = "vault_observed"


class VaultOpsView(SegmentedProjection):
    name = "vault_ops"
    tables = (TABLE, OBSERVED)
    topics = topics(VaultOps.Requested, VaultOps.Approved, VaultOps.Submitted,
                    VaultOps.Rejected, VaultOps.Settled, VaultOps.Observed,
                    VaultOps.DeploymentSubmitted, VaultOps.ImplementationDeployed)
    version = 2  # 2: an upgrade's implementation deployment (tables of 1 never saw it)

    @staticmethod
    def ddl(store: ViewStore) -> list[sql.Composed]:
        return [sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} (ops_id uuid NOT NULL, number int NOT NULL,"
            " action text NOT NULL, role text, account text, target text,"
            " state text NOT NULL, reason text NOT NULL, requested_by text NOT NULL,"
            " requested_at timestamptz NOT NULL, approved_by text, approved_at timestamptz,"
            " tx_hash text, rejection text, settled_at timestamptz,"
            " updated_at timestamptz NOT NULL, position bigint NOT NULL,"
            " PRIMARY KEY (ops_id, number))").format(store.table(TABLE)),
            sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} (ops_id uuid NOT NULL, position bigint NOT NULL,"
            " log text NOT NULL, tx_hash text NOT NULL, detail text NOT NULL,"
            " observed_at timestamptz NOT NULL, PRIMARY KEY (ops_id, position))"
            ).format(store.table(OBSERVED))]

    @staticmethod
    def added_columns(store: ViewStore) -> list[sql.Composed]:
        return [sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS deploy_tx_hash text,"
                        " ADD COLUMN IF NOT EXISTS implementation text"
                        ).format(store.table(TABLE))]

    def _run(self, key: str, statement: str, values: Any, table: str = TABLE) -> None:
        self.segments.add(self.handler(
            key, lambda: sql.SQL(statement).format(self.view.table(table))), values)

    def _set(self, key: str, e: Any, tracking: Tracking, assignments: str,
             **values: Any) -> None:
        values.update(id=e.originator_id, number=e.number, at=e.timestamp,
                      pos=tracking.notification_id)
        self._run(key, "UPDATE {} SET " + assignments + ", updated_at = %(at)s,"  # noqa: S608
                  " position = %(pos)s WHERE ops_id = %(id)s AND number = %(number)s", values)

    @singledispatchmethod
    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        """Events of other topics never reach this projection."""

    @process_event.register
    def _requested(self, e: VaultOps.Requested, tracking: Tracking) -> None:
        self._run("requested", "INSERT INTO {} (ops_id, number, action, role, account, target,"
                  " state, reason, requested_by, requested_at, updated_at, position) VALUES"
                  " (%s, %s, %s, %s, %s, %s, 'REQUESTED', %s, %s, %s, %s, %s)"
                  " ON CONFLICT DO NOTHING",
                  (e.originator_id, e.number, e.action, e.role, e.account, e.target, e.reason,
                   e.actor, e.requested_at, e.timestamp, tracking.notification_id))

    @process_event.register
    def _approved(self, e: VaultOps.Approved, tracking: Tracking) -> None:
        self._set("approved", e, tracking, "state = 'APPROVED', approved_by = %(actor)s,"
                  " approved_at = %(at)s", actor=e.actor)

    @process_event.register
    def _submitted(self, e: VaultOps.Submitted, tracking: Tracking) -> None:
        self._set("submitted", e, tracking, "state = 'SUBMITTED', tx_hash = %(tx)s,"
                  " rejection = NULL", tx=e.tx_hash)

    @process_event.register
    def _deploying(self, e: VaultOps.DeploymentSubmitted, tracking: Tracking) -> None:
        self._set("deploying", e, tracking, "deploy_tx_hash = %(tx)s", tx=e.tx_hash)

    @process_event.register
    def _deployed(self, e: VaultOps.ImplementationDeployed, tracking: Tracking) -> None:
        self._set("deployed", e, tracking, "implementation = %(address)s", address=e.address)

    @process_event.register
    def _rejected(self, e: VaultOps.Rejected, tracking: Tracking) -> None:
        self._set("rejected", e, tracking, "state = 'REJECTED', rejection = %(reason)s",
                  reason=e.reason)

    @process_event.register
    def _settled(self, e: VaultOps.Settled, tracking: Tracking) -> None:
        self._set("done", e, tracking, "state = 'DONE', tx_hash = %(tx)s,"
                  " settled_at = %(at)s", tx=e.tx_hash)

    @process_event.register
    def _observed(self, e: VaultOps.Observed, tracking: Tracking) -> None:
        self._run("observed", "INSERT INTO {} (ops_id, position, log, tx_hash, detail,"
                  " observed_at) VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                  (e.originator_id, tracking.notification_id, e.log, e.tx_hash, e.detail,
                   e.timestamp), OBSERVED)
