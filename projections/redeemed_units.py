"""A cash-out's units redeemed: Σ units of its leaves paid or claimed, per distribution.

A cash-out's leaf commits the holder's units (domain.entitlements.leaf_amount) while the
batch's payment events carry the principal paid (the leaves' net), so the units come from
the holders the batch entitled: `units` keeps (batch, leaf, units) for CASH_OUT batches only,
and a paid or claimed leaf adds its units to `units_redeemed` of its distribution. A leaf is
paid at most once (domain.batch), so the sum adds up whatever the order of commits.

Every distribution's holders pass by, ~100k rows for a large one: their events are kept raw
(stored JSON) until `write`, which asks which of their batches are cash-outs and decodes only
those, so a dividend costs one small query per commit, not a decode of its holder rows.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from uuid import UUID

from psycopg import Cursor, sql
from psycopg.rows import DictRow

from projections import fastpath
from projections.fastpath import FastDecoder


class RedeemedUnits:
    def __init__(self, distributions: sql.Identifier, batches: sql.Identifier,
                 units: sql.Identifier) -> None:
        self.t, self.b, self.u = distributions, batches, units
        self.clear()

    def clear(self) -> None:
        self.raw: dict[UUID, list[tuple[str, bytes]]] = defaultdict(list)
        self.entitled_rows: dict[UUID, list[tuple[int, int]]] = defaultdict(list)
        self.paid_leaves: dict[UUID, list[int]] = defaultdict(list)

    def entitled_raw(self, batch_id: UUID, topic: str, state: bytes) -> None:
        self.raw[batch_id].append((topic, state))

    def entitled(self, batch_id: UUID, leaves: Iterable[tuple[int | None, int]]) -> None:
        """(leaf index, units) of holders; a skipped holder (no leaf) redeems nothing here."""
        self.entitled_rows[batch_id].extend((i, units) for i, units in leaves if i is not None)

    def paid(self, batch_id: UUID, leaves: list[int]) -> None:
        self.paid_leaves[batch_id].extend(leaves)

    def _cash_out_batches(self, cur: Cursor[DictRow], batch_ids: Iterable[UUID]) -> set[UUID]:
        ids = list(batch_ids)
        if not ids:
            return set()
        cur.execute(sql.SQL(
            "SELECT b.batch_id FROM {b} AS b JOIN {t} AS d USING (distribution_id)"
            " WHERE d.kind = 'CASH_OUT' AND b.batch_id = ANY(%s)").format(b=self.b, t=self.t),
            (ids,))
        return {row["batch_id"] for row in cur.fetchall()}

    def write(self, cur: Cursor[DictRow], fast: FastDecoder | None) -> None:
        """After the distributions' rows and batch links: the join goes through them."""
        cash_outs = self._cash_out_batches(
            cur, set(self.raw) | set(self.entitled_rows) | set(self.paid_leaves))
        for batch_id in cash_outs & set(self.raw):
            for topic, state in self.raw[batch_id]:  # kept only where `fast` decodes them
                self.entitled(batch_id, _leaf_units(fast.decode(topic, state) if fast else None))
        rows = [(b, i, units) for b in cash_outs & set(self.entitled_rows)
                for i, units in self.entitled_rows[b]]
        if rows:
            cur.execute(sql.SQL(
                "INSERT INTO {u} SELECT * FROM unnest(%s::uuid[], %s::int[], %s::numeric[])"
                " ON CONFLICT DO NOTHING").format(u=self.u),
                ([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]))
        paid = [(b, i) for b in cash_outs & set(self.paid_leaves) for i in self.paid_leaves[b]]
        if paid:
            cur.execute(sql.SQL(
                "UPDATE {t} AS d SET units_redeemed = coalesce(d.units_redeemed, 0) + s.units"
                " FROM (SELECT b.distribution_id, sum(u.units) AS units"
                " FROM unnest(%s::uuid[], %s::int[]) AS p(batch_id, leaf_index)"
                " JOIN {u} AS u USING (batch_id, leaf_index) JOIN {b} AS b USING (batch_id)"
                " GROUP BY 1) AS s WHERE d.distribution_id = s.distribution_id"
            ).format(t=self.t, u=self.u, b=self.b), ([p[0] for p in paid], [p[1] for p in paid]))
        self.clear()


def _leaf_units(raw: fastpath.Raw | None) -> list[tuple[int | None, int]]:
    if isinstance(raw, fastpath.EntitledRows):
        return [(row[6], row[2]) for row in raw.holders]  # domain.batch.HOLDER_FIELDS
    if isinstance(raw, fastpath.Entitled):
        return [(raw.leaf_index, raw.balance)]
    raise ValueError(f"not a holder event: {raw!r}")
