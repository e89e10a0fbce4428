"""Per-distribution paid / failed counts from leaf outcomes, coalesced per batch of events.

A leaf is paid (or claimed) at most once, so paid counts and amounts add up. A leaf counts as
failed while it is in the `failed` side table: `LeafFailed` puts it there; a payment, a claim
or an operator's retry (`PayoutBatch.RetryRequested`) takes it out. Within a batch of events
only each leaf's last word matters (fail → retry → fail again is "in"); the side table's
INSERT … ON CONFLICT DO NOTHING / DELETE … RETURNING then say exactly which rows changed, so
`failed_count` moves by what really changed whatever the leaf's history before this batch.
"""

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
        self.failing: dict[tuple[UUID, int], bool] = {}  # leaf → failed after this batch?

    def paid(self, batch_id: UUID, leaf: int, amount: int) -> None:
        self.paid_leaves(batch_id, [leaf], amount)

    def paid_leaves(self, batch_id: UUID, leaves: list[int], amount: int) -> None:
        """One transaction's leaves: `amount` in all."""
        counts = self.paid_by_batch[batch_id]
        counts[0] += len(leaves)
        counts[1] += amount
        for leaf in leaves:
            self.failing[(batch_id, leaf)] = False

    def failed(self, batch_id: UUID, leaf: int) -> None:
        self.failing[(batch_id, leaf)] = True

    def retried(self, batch_id: UUID, leaves: list[int]) -> None:
        """Failed leaves sent again: undecided, so no longer counted as failed."""
        for leaf in leaves:
            self.failing[(batch_id, leaf)] = False

    def _side_table(self, cur: Cursor[DictRow], statement: str, failing: bool,
                    delta: dict[UUID, list[int]]) -> None:
        keys = [k for k, v in self.failing.items() if v is failing]
        if keys:
            cur.execute(sql.SQL(statement).format(f=self.f),
                        ([b for b, _ in keys], [leaf for _, leaf in keys]))
            for row in cur.fetchall():
                delta[row["batch_id"]][2] += 1 if failing else -1

    def write(self, cur: Cursor[DictRow]) -> None:
        delta: dict[UUID, list[int]] = defaultdict(lambda: [0, 0, 0])  # paid, amount, failed
        for batch_id, (count, amount) in self.paid_by_batch.items():
            delta[batch_id][0] += count
            delta[batch_id][1] += amount
        self._side_table(cur, (
            "DELETE FROM {f} AS f USING unnest(%s::uuid[], %s::int[]) AS u(b, l)"
            " WHERE f.batch_id = u.b AND f.leaf_index = u.l RETURNING f.batch_id"), False, delta)
        self._side_table(cur, (
            "INSERT INTO {f} SELECT * FROM unnest(%s::uuid[], %s::int[])"
            " ON CONFLICT DO NOTHING RETURNING batch_id"), True, delta)
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
