"""Holders per asset now: balances folded from the token's ingested transfers.

`asset_holders` keeps the balances of the asset's latest snapshot (what a distribution pays
on); this read model follows every `TransfersObserved` the ingestor saved (the security
token's `Transfer` logs, in block order), so it shows who holds the asset between snapshots.
A mint comes from the zero address and a burn goes to it; neither is a holder. An account
whose balance falls to zero keeps its row (first and last seen stay known) and is left out
of the live holders by the query.

A separate projection rather than more columns on `asset_holders`: the two answer different
questions (what a distribution used vs what the chain says now) and are rebuilt, versioned
and read independently.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.persistence import Tracking
from psycopg import Cursor, sql
from psycopg.rows import DictRow

from domain.holdings import TransfersObserved
from projections.base import Segments, TableProjection, topics
from projections.store import ViewStore

TABLE = "live_holders"
ZERO = "0x" + "00" * 20
Change = tuple[UUID, str, int, datetime, str]  # asset, account, signed amount, at, tx hash


class LiveHolders(TableProjection):
    name = "live_holders"
    tables = (TABLE,)
    topics = topics(TransfersObserved.Observed)

    def __init__(self, view: ViewStore) -> None:
        super().__init__(view)
        self.segments = Segments()
        # first_seen is kept from the first insert; the rest follow the latest transfer.
        self._apply_sql = sql.SQL(
            "INSERT INTO {t} AS h (asset_id, account, balance, first_seen_at, last_seen_at,"
            " last_tx_hash) SELECT * FROM unnest(%s::uuid[], %s::text[], %s::numeric[],"
            " %s::timestamptz[], %s::timestamptz[], %s::text[])"
            " ON CONFLICT (asset_id, account) DO UPDATE SET"
            " balance = h.balance + EXCLUDED.balance, last_seen_at = EXCLUDED.last_seen_at,"
            " last_tx_hash = EXCLUDED.last_tx_hash").format(t=view.table(TABLE))

    def reset(self) -> None:
        self.segments.clear()

    @staticmethod
    def ddl(store: ViewStore) -> list[sql.Composed]:
        return [
            sql.SQL("CREATE TABLE IF NOT EXISTS {} (asset_id uuid NOT NULL, account text NOT NULL,"
                    " balance numeric(78) NOT NULL, first_seen_at timestamptz NOT NULL,"
                    " last_seen_at timestamptz NOT NULL, last_tx_hash text NOT NULL,"
                    " PRIMARY KEY (asset_id, account))").format(store.table(TABLE)),
            # the live view's keyset: holders of an asset with a balance, by account
            sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} (asset_id, account) WHERE balance > 0"
                    ).format(sql.Identifier(f"{store.table_name(TABLE)}_held"),
                             store.table(TABLE)),
        ]

    def _apply(self, cur: Cursor[DictRow], changes: list[Change]) -> None:
        rows = fold(changes)
        if rows:
            cur.execute(self._apply_sql, [list(c) for c in zip(*rows, strict=True)])

    @singledispatchmethod
    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        """Events of other topics never reach this projection."""

    @process_event.register
    def _observed(self, e: TransfersObserved.Observed, tracking: Tracking) -> None:
        for sender, recipient, amount, tx_hash, _ in e.transfers:
            value = int(str(amount))
            if str(sender) != ZERO:
                self.segments.add(self._apply, (e.asset_id, str(sender), -value, e.timestamp,
                                                str(tx_hash)))
            if str(recipient) != ZERO:
                self.segments.add(self._apply, (e.asset_id, str(recipient), value, e.timestamp,
                                                str(tx_hash)))

    def write(self, cur: Cursor[DictRow]) -> None:
        self.segments.write(cur)


def fold(changes: Iterable[Change]) -> list[tuple[UUID, str, int, datetime, datetime, str]]:
    """One row per (asset, account): the summed change, the first and last time seen and the
    last transaction, so one statement never updates a row twice (PostgreSQL refuses that)."""
    folded: dict[tuple[UUID, str], list[Any]] = {}
    for asset_id, account, amount, at, tx_hash in changes:
        row = folded.get((asset_id, account))
        if row is None:
            folded[(asset_id, account)] = [asset_id, account, amount, at, at, tx_hash]
        else:
            row[2] += amount
            row[4], row[5] = at, tx_hash
    return [(a, acct, amount, first, last, tx) for a, acct, amount, first, last, tx
            in folded.values()]
