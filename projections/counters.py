"""Per-distribution paid / failed counts from leaf outcomes, coalesced per batch of events."""

from __future__ import annotations

from collections import defaultdict
from uuid import UUID

from psycopg import Cursor, sql
from psycopg.rows import DictRow


class LeafCounters:
    def __init__(self, distributions: sql.Identifier, batches: sql.Identifier,
                 failed: sql.Identifier) -> None:
        self.t, self.b, self.f = distributions, batches, failed
        self.clear()

    def clear(self) -> None:
        self.paid_by_batch: dict[UUID, list[int]] = defaultdict(lambda: [0, 0])
        self.failed_new: set[tuple[UUID, int]] = set()
        self.paid_leaves: list[tuple[UUID, int]] = []

    def paid(self, batch_id: UUID, leaf: int, amount: int) -> None:
        counts = self.paid_by_batch[batch_id]
        counts[0] += 1
        counts[1] += amount
        if (batch_id, leaf) in self.failed_new:  # failed then paid within this batch
            self.failed_new.discard((batch_id, leaf))
        else:
            self.paid_leaves.append((batch_id, leaf))

    def failed(self, batch_id: UUID, leaf: int) -> None:
        self.failed_new.add((batch_id, leaf))

    def write(self, cur: Cursor[DictRow]) -> None:
        delta: dict[UUID, list[int]] = defaultdict(lambda: [0, 0, 0])  # paid, amount, failed
        for batch_id, (count, amount) in self.paid_by_batch.items():
            delta[batch_id][0] += count
            delta[batch_id][1] += amount
        if self.paid_leaves:
            cur.execute(sql.SQL(
                "DELETE FROM {} AS f USING unnest(%s::uuid[], %s::int[]) AS u(b, l)"
                " WHERE f.batch_id = u.b AND f.leaf_index = u.l RETURNING f.batch_id"
            ).format(self.f), ([b for b, _ in self.paid_leaves],
                               [leaf for _, leaf in self.paid_leaves]))
            for row in cur.fetchall():
                delta[row["batch_id"]][2] -= 1
        if self.failed_new:
            cur.execute(sql.SQL(
                "INSERT INTO {} SELECT * FROM unnest(%s::uuid[], %s::int[])"
                " ON CONFLICT DO NOTHING RETURNING batch_id").format(self.f),
                ([b for b, _ in self.failed_new], [leaf for _, leaf in self.failed_new]))
            for row in cur.fetchall():
                delta[row["batch_id"]][2] += 1
        if delta:
            ids = list(delta)
            cur.execute(sql.SQL(
                "UPDATE {t} AS d SET paid_count = d.paid_count + s.paid,"
                " amount_paid = d.amount_paid + s.amount, failed_count = d.failed_count + s.failed"
                " FROM (SELECT b.distribution_id, sum(u.paid) AS paid, sum(u.amount) AS amount,"
                " sum(u.failed) AS failed FROM unnest(%s::uuid[], %s::int[], %s::numeric[],"
                " %s::int[]) AS u(batch_id, paid, amount, failed) JOIN {b} AS b USING (batch_id)"
                " GROUP BY 1) AS s WHERE d.distribution_id = s.distribution_id"
            ).format(t=self.t, b=self.b), (ids, [delta[i][0] for i in ids],
                                           [delta[i][1] for i in ids],
                                           [delta[i][2] for i in ids]))
        self.clear()
