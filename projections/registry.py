"""The read models by name, and opening their stores on a database."""

from __future__ import annotations

from eventsourcing.postgres import PostgresDatastore

from projections.asset_holders import AssetHolders
from projections.assets import Assets
from projections.audit_runs import AuditRuns
from projections.base import TableProjection
from projections.batches import Batches
from projections.distributions import Distributions
from projections.holders import DistributionHolders
from projections.ingestion import IngestionCursors
from projections.live_holders import LiveHolders
from projections.reports import WithholdingRates
from projections.schedules import Schedules
from projections.store import ViewStore
from projections.sweep_accounts import SweepAccountsView
from projections.treasury_ops import TreasuryOps
from projections.vault_ops import VaultOpsView
from projections.webhooks import Webhooks

PROJECTIONS: dict[str, type[TableProjection]] = {
    p.name: p for p in (Assets, AssetHolders, LiveHolders, Distributions, Batches,
                        DistributionHolders, IngestionCursors, Schedules, Webhooks,
                        WithholdingRates, AuditRuns, TreasuryOps, VaultOpsView,
                        SweepAccountsView)
}


def projection_class(name: str) -> type[TableProjection]:
    try:
        return PROJECTIONS[name]
    except KeyError:
        raise LookupError(f"unknown projection {name!r}; choose from {', '.join(PROJECTIONS)}"
                          ) from None


def open_projection(datastore: PostgresDatastore, cls: type[TableProjection],
                    suffix: str = "") -> TableProjection:
    """The projection over its (created if missing) tables."""
    store = ViewStore(datastore, name=cls.name, suffix=suffix)
    store.setup(cls.ddl, cls.tables, added_columns=cls.added_columns, version=cls.version)
    return cls(store)


def open_all(datastore: PostgresDatastore) -> list[TableProjection]:
    return [open_projection(datastore, cls) for cls in PROJECTIONS.values()]
