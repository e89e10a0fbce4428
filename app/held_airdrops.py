"""The PendingAirdrop aggregates one ledger command touches (domain/hts_pending.py).

A command that changes what a batch airdrops or holds pending (an airdrop recorded or
settled, a claim read, a cancellation opened, settled, failed or dead) makes the mirrored
change here, on each holder's PendingAirdrop, loaded once per command, and the ledger saves
them in the same save as the batches: the two never disagree, and two commands touching one
holder's pending airdrop concurrently conflict on its version.

Leaves made pending before the aggregate was kept are adopted by their batch's own job
(`adopt`), so a merged airdrop's amount is known in full before anything is cancelled.
"""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate

from domain.asset import Asset
from domain.batch import PayoutBatch
from domain.distribution import Distribution
from domain.hts_pending import PendingAirdrop, leg_key, parse_leg


def payer_of(transaction_id: str) -> str:
    """`0.0.5@1700000000.000000001` -> `0.0.5`: the sender of the airdrop (or its cancel)."""
    return transaction_id.partition("@")[0]


def _open_kind(batch: PayoutBatch, transaction_id: str) -> str | None:
    opened = batch.hts_open.get(transaction_id)
    return opened[2] if opened is not None else None


class HeldAirdrops:
    def __init__(self, get: Callable[[UUID], Aggregate],
                 get_distribution: Callable[[UUID], Distribution],
                 get_asset: Callable[[UUID], Asset]) -> None:
        self._get, self._get_distribution, self._get_asset = get, get_distribution, get_asset
        self._tokens: dict[UUID, str] = {}  # distribution -> its asset's payment token
        self.touched: dict[UUID, PendingAirdrop] = {}

    def of(self, batch: PayoutBatch, leaf_index: int, payer: str, *,
           start: bool = False) -> PendingAirdrop | None:
        """The pending airdrop of this leaf's holder from `payer` (started if asked)."""
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

    def of_pending(self, batch: PayoutBatch, leaf_index: int) -> PendingAirdrop | None:
        """The pending airdrop holding this pending leaf (None if it is not pending)."""
        airdrop = batch.hts_pending.get(leaf_index)
        return self.of(batch, leaf_index, payer_of(airdrop)) if airdrop else None

    def _token(self, distribution_id: UUID) -> str:
        if distribution_id not in self._tokens:
            asset_id = self._get_distribution(distribution_id).asset_id
            self._tokens[distribution_id] = self._get_asset(asset_id).payment_token
        return self._tokens[distribution_id]

    def all(self) -> list[PendingAirdrop]:
        """Every aggregate loaded, to save with the command's others (one without new
        events saves nothing)."""
        return list(self.touched.values())

    def changed(self) -> list[PendingAirdrop]:
        """Only those with new events: a command that changed nothing need not save."""
        return [a for a in self.touched.values() if a.pending_events]

    # --- the changes each ledger command mirrors here ---

    def submitted(self, batch: PayoutBatch, transaction_id: str, kind: str,
                  leaf_indices: list[int],
                  expected: dict[int, list[str]] | None = None) -> None:
        """An airdrop is sent on each holder's aggregate (refused, AirdropHeldBack, while a
        cancellation is open there); a cancellation opens on each (refused while an airdrop
        is in flight there, or when it would end other leaves than the `expected` ones the
        decision to cancel was taken on)."""
        payer = payer_of(transaction_id)
        for i in leaf_indices:
            if kind == "airdrop":
                started = self.of(batch, i, payer, start=True)
                assert started is not None
                started.send_airdrop(transaction_id=transaction_id,
                                     legs=[leg_key(batch.id, i)])
            elif kind == "cancel":
                pending = self.of(batch, i, payer)
                if pending is not None:
                    pending.open_cancel(transaction_id=transaction_id,
                                        expected=(expected or {}).get(i))

    def unsettled(self, batch: PayoutBatch, transaction_id: str, status: str) -> None:
        """An airdrop or a cancellation that failed, or provably never executed."""
        kind = _open_kind(batch, transaction_id)
        for i in batch.submitted_leaves.get(transaction_id, []) if kind else []:
            pending = self.of(batch, i, payer_of(transaction_id))
            if pending is None:
                continue
            if kind == "airdrop":
                pending.settle_airdrop(transaction_id=transaction_id, held={})
            elif kind == "cancel":
                pending.close_cancel(transaction_id=transaction_id, status=status)

    def airdrop_settled(self, batch: PayoutBatch, transaction_id: str,
                        pending: list[int]) -> None:
        """A settled airdrop: the leaves it left pending are held (and the others, credited
        at once or failed, no longer in flight)."""
        if _open_kind(batch, transaction_id) != "airdrop":
            return
        for i in batch.submitted_leaves[transaction_id]:
            held = self.of(batch, i, payer_of(transaction_id))
            if held is not None:
                leg = leg_key(batch.id, i)
                held.settle_airdrop(transaction_id=transaction_id,
                                    held={leg: batch.leaves[i].net} if i in pending else {})

    def claimed(self, batch: PayoutBatch, leaf_indices: list[int],
                indexed_until: float) -> dict[UUID, list[int]]:
        """The holders' pending airdrops are gone: every leaf merged in each, whose airdrop
        had reached consensus by `indexed_until`, was claimed with it. The leaves of other
        batches (and of this one beyond `leaf_indices`) this settles too."""
        also: dict[UUID, list[int]] = {}
        for i in leaf_indices:
            pending = self.of_pending(batch, i)
            if pending is None:
                continue
            for other, leaf in map(parse_leg, pending.release_claimed(
                    indexed_until=indexed_until)):
                if other != batch.id or leaf not in leaf_indices:
                    also.setdefault(other, []).append(leaf)
        return also

    def cancelled(self, batch: PayoutBatch, transaction_id: str,
                  leaf_indices: list[int]) -> dict[UUID, list[int]]:
        """A cancellation succeeded: every leaf held where it was open ended with it. The
        leaves of other batches (and of this one beyond its own) this settles too."""
        also: dict[UUID, list[int]] = {}
        for i in leaf_indices:
            pending = self.of(batch, i, payer_of(transaction_id))
            if pending is None:
                continue
            if pending.cancelling != transaction_id:  # opened before the aggregate was kept
                pending.release_cancelled(transaction_id=transaction_id,
                                          legs=[leg_key(batch.id, i)])
                continue
            for other, leaf in map(parse_leg, pending.cancelled(transaction_id=transaction_id)):
                if other != batch.id or leaf not in leaf_indices:
                    also.setdefault(other, []).append(leaf)
        return also

    def adopt(self, batch: PayoutBatch) -> None:
        """Hold this batch's pending leaves that went pending before the aggregate was kept
        (not those a cancellation of this batch's is ending: its fate settles them). An
        airdrop of the code before still in flight is mirrored before it is ever sent again
        (`PayoutLedger.mirror_airdrop_in_flight`), not here."""
        cancelling = {i for tid, (_s, _v, kind) in batch.hts_open.items() if kind == "cancel"
                      for i in batch.submitted_leaves[tid]}
        for i, airdrop in sorted(batch.hts_pending.items()):
            if i in cancelling:
                continue
            held = self.of(batch, i, payer_of(airdrop), start=True)
            assert held is not None
            if leg_key(batch.id, i) not in held.legs and held.cancelling is None:
                held.adopt(leg=leg_key(batch.id, i), net=batch.leaves[i].net, airdrop=airdrop)
