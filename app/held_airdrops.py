"""The PendingAirdrop aggregates one ledger command touches (domain/hts_pending.py).

A command that changes a pending leaf (held by an airdrop, claimed, a cancellation opened,
settled, failed or dead) loads the leaf's PendingAirdrop here, once, and saves it in the
same save as the batches: the two never disagree, and two commands touching one pending
airdrop concurrently conflict. Leaves made pending before this index existed have no
aggregate; they are left out (`of` answers None) and keep the old rules.
"""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate

from domain.asset import Asset
from domain.batch import PayoutBatch
from domain.distribution import Distribution
from domain.hts_pending import PendingAirdrop


def payer_of(transaction_id: str) -> str:
    """`0.0.5@1700000000.000000001` -> `0.0.5`: the sender of the airdrop (or its cancel)."""
    return transaction_id.partition("@")[0]


class HeldAirdrops:
    def __init__(self, get: Callable[[UUID], Aggregate],
                 get_distribution: Callable[[UUID], Distribution],
                 get_asset: Callable[[UUID], Asset]) -> None:
        self._get, self._get_distribution, self._get_asset = get, get_distribution, get_asset
        self._tokens: dict[UUID, str] = {}  # distribution -> its asset's payment token
        self.touched: dict[UUID, PendingAirdrop] = {}

    def of(self, batch: PayoutBatch, leaf_index: int, payer: str, *,
           start: bool = False) -> PendingAirdrop | None:
        """The pending airdrop holding this leaf's payment from `payer` (started if asked)."""
        holder = batch.leaves[leaf_index].account
        token = self._token(batch.distribution_id)
        aggregate_id = PendingAirdrop.create_id(payer, holder, token)
        if aggregate_id in self.touched:
            return self.touched[aggregate_id]
        try:
            found = self._get(aggregate_id)
        except AggregateNotFoundError:
            if not start:
                return None
            found = PendingAirdrop.start(payer=payer, holder=holder, token=token)
        if not isinstance(found, PendingAirdrop):
            raise TypeError(f"{aggregate_id} is not a PendingAirdrop")
        self.touched[aggregate_id] = found
        return found

    def _token(self, distribution_id: UUID) -> str:
        if distribution_id not in self._tokens:
            asset_id = self._get_distribution(distribution_id).asset_id
            self._tokens[distribution_id] = self._get_asset(asset_id).payment_token
        return self._tokens[distribution_id]

    def all(self) -> list[PendingAirdrop]:
        """Every aggregate loaded, to save with the command's others (one without new
        events saves nothing)."""
        return list(self.touched.values())
