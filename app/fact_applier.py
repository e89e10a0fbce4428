"""Turns one ingested block range's chain facts into events on the aggregates they touch.

Everything happens in memory; the ledger saves the touched aggregates together with the advanced
cursor in one transaction. A fact that cannot be applied (an unknown distribution, an outcome
that contradicts the ledger) is recorded on the cursor with its reason instead of stalling
ingestion. The leaves one transaction paid in one batch are one event; should any of them be
refused, each is applied on its own, so one bad leaf never blocks or half-applies another.
"""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain import chain_facts as f
from domain.asset import Asset
from domain.batch import PAID_OUTCOMES, UNPAID_OUTCOMES, LeafOutcome, PayoutBatch
from domain.distribution import Distribution, Status
from domain.errors import DomainError, NotFound
from domain.holdings import TransfersObserved
from domain.treasury import TreasuryTx
from domain.vault_admin import VaultOps


def _counts(outcome: LeafOutcome | None) -> tuple[int, int]:
    if outcome in PAID_OUTCOMES:
        return 1, 0
    return (0, 1) if outcome in UNPAID_OUTCOMES else (0, 0)


def _pay_one(leaf_index: int, tx_hash: str) -> Callable[[PayoutBatch], None]:
    def change(batch: PayoutBatch) -> None:
        batch.record_paid_leaves(leaf_indices=[leaf_index], tx_hash=tx_hash)
    return change


class FactApplier:
    def __init__(self, get_distribution: Callable[[UUID], Distribution],
                 get_batch: Callable[[UUID, int], PayoutBatch],
                 get_asset: Callable[[UUID], Asset],
                 find_treasury_tx: Callable[[str], TreasuryTx | None] = lambda _tx: None,
                 find_vault_ops: Callable[[UUID], VaultOps | None] = lambda _asset: None,
                 ) -> None:
        self._get_distribution = get_distribution
        self._find_vault_ops = find_vault_ops
        self.vault_ops: dict[UUID, VaultOps] = {}
        # ControllerRedemption logs by transaction, until that transaction's Paid or Claimed
        # names the distribution they redeemed for (they come first in its logs).
        self.redeemed: dict[str, list[f.UnitsRedeemed]] = {}
        self._find_treasury_tx = find_treasury_tx
        self._get_batch = get_batch
        self._get_asset = get_asset
        self.distributions: dict[UUID, Distribution] = {}
        self.batches: dict[tuple[UUID, int], PayoutBatch] = {}
        self.assets: dict[UUID, Asset] = {}
        self.unapplied: list[tuple[f.ChainFact, str]] = []
        # Counters per distribution as this range changes them; recorded once in finish().
        self.progress: dict[UUID, list[int]] = {}
        self.transfers: dict[UUID, list[list[object]]] = {}

    def _distribution(self, distribution_id: UUID) -> Distribution:
        if distribution_id not in self.distributions:
            d = self._get_distribution(distribution_id)
            self.distributions[distribution_id] = d
            self.progress[distribution_id] = [d.paid, d.failed, d.amount_paid]
        return self.distributions[distribution_id]

    def _batch(self, distribution: Distribution, leaf_index: int) -> PayoutBatch:
        key = (distribution.id, distribution.batch_of_leaf(leaf_index))
        if key not in self.batches:
            self.batches[key] = self._get_batch(*key)
        return self.batches[key]

    def _on_leaf(self, fact: f.ChainFact, distribution_id: UUID, leaf_index: int,
                 change: Callable[[PayoutBatch], None]) -> None:
        try:
            distribution = self._distribution(distribution_id)
            batch = self._batch(distribution, leaf_index)
            before = _counts(batch.outcomes.get(leaf_index))
            paid_before = batch.amount_paid
            change(batch)
        except DomainError as err:
            self.unapplied.append((fact, f"leaf {leaf_index}: {err}"))
            return
        after = _counts(batch.outcomes.get(leaf_index))
        progress = self.progress[distribution.id]
        progress[0] += after[0] - before[0]
        progress[1] += after[1] - before[1]
        progress[2] += batch.amount_paid - paid_before

    def change_leaves(self, distribution_id: UUID, leaf_indices: list[int],
                      change: Callable[[PayoutBatch], None]) -> None:
        """A change to one batch's leaves that is not a chain fact (an HTS pending airdrop
        claimed or cancelled), counted into the distribution's progress like one. A refusal
        raises (the caller's command fails; nothing is saved)."""
        distribution = self._distribution(distribution_id)
        batch = self._batch(distribution, leaf_indices[0])
        before = [_counts(batch.outcomes.get(i)) for i in leaf_indices]
        paid_before = batch.amount_paid
        change(batch)
        after = [_counts(batch.outcomes.get(i)) for i in leaf_indices]
        progress = self.progress[distribution.id]
        progress[0] += sum(a[0] for a in after) - sum(b[0] for b in before)
        progress[1] += sum(a[1] for a in after) - sum(b[1] for b in before)
        progress[2] += batch.amount_paid - paid_before

    def apply(self, fact: f.ChainFact) -> None:  # noqa: PLR0912  # one case per kind of fact
        match fact:
            case f.LeavesPaid() | f.LeavesAlreadyPaid() if not fact.leaf_indices:
                return
            case f.LeavesPaid():
                self._pay(fact)
                self._attribute_redemptions(fact.distribution_id, fact.tx_hash)
            case f.LeafFailed():
                self._on_leaf(fact, fact.distribution_id, fact.leaf_index,
                              lambda b: b.record_failed(leaf_index=fact.leaf_index,
                                                        reason=fact.reason, tx_hash=fact.tx_hash))
            case f.LeafClaimed():
                self._on_leaf(fact, fact.distribution_id, fact.leaf_index,
                              lambda b: b.record_claimed(leaf_index=fact.leaf_index,
                                                         amount=fact.amount,
                                                         tx_hash=fact.tx_hash))
                self._attribute_redemptions(fact.distribution_id, fact.tx_hash)
            case f.UnitsRedeemed():
                self.redeemed.setdefault(fact.tx_hash, []).append(fact)
            case f.LeavesAlreadyPaid():
                return  # their payment was ingested from the transaction that made it
            case f.BatchSettledOnChain():
                self._settle(fact)
            case f.DistributionReclaimed():
                self._on_distribution(fact, fact.distribution_id, lambda d: d.record_reclaimed(
                    amount=fact.amount, treasury=fact.treasury, tx_hash=fact.tx_hash))
            case f.VaultSwept():
                self._swept(fact)
            case f.VaultDeposit():
                self._deposit(fact)
            case f.VaultAdministered():
                self._administered(fact)
            case f.ShareTransfer():
                self.transfers.setdefault(fact.asset_id, []).append(
                    [fact.sender, fact.recipient, fact.amount, fact.tx_hash, fact.log_index])
            case f.TokenSnapshotTaken():
                self._on_asset(fact, fact.asset_id, lambda a: a.record_snapshot(
                    snapshot_id=fact.snapshot_id, tx_hash=fact.tx_hash,
                    block_number=fact.block_number))
            case f.UnreadableLog():
                self.unapplied.append((fact, fact.reason))

    def _pay(self, fact: f.LeavesPaid) -> None:
        """Per batch, the transaction's paid leaves as one event (the Paid log carries no
        amount: the vault pays exactly each committed leaf's net)."""
        try:
            distribution = self._distribution(fact.distribution_id)
        except DomainError as err:
            self.unapplied.append((fact, f"leaves {list(fact.leaf_indices[:5])}: {err}"))
            return
        groups: dict[int, list[int]] = {}
        for leaf in fact.leaf_indices:
            try:
                number = distribution.batch_of_leaf(leaf)
            except DomainError as err:
                self.unapplied.append((fact, f"leaf {leaf}: {err}"))
                continue
            groups.setdefault(number, []).append(leaf)
        for leaves in groups.values():
            batch = self._batch(distribution, leaves[0])
            before = [_counts(batch.outcomes.get(i)) for i in leaves]
            paid_before = batch.amount_paid
            try:
                batch.record_paid_leaves(leaf_indices=leaves, tx_hash=fact.tx_hash)
            except DomainError:  # rare: apply each on its own, each refusal with its reason
                for leaf in leaves:
                    self._on_leaf(fact, distribution.id, leaf,
                                  _pay_one(leaf, fact.tx_hash))
                continue
            progress = self.progress[distribution.id]
            progress[0] += len(leaves) - sum(b[0] for b in before)
            progress[1] -= sum(b[1] for b in before)
            progress[2] += batch.amount_paid - paid_before

    def _settle(self, fact: f.BatchSettledOnChain) -> None:
        try:
            distribution = self._distribution(fact.distribution_id)
            batch = self._batch(distribution, fact.first_index)
            covered = batch.submitted_leaves.get(fact.tx_hash) or list(
                range(fact.first_index, fact.first_index + fact.count))
            batch.settle(tx_hash=fact.tx_hash, covered=covered, already_paid=fact.skipped,
                         gas_used=fact.gas_used)
        except DomainError as err:
            self.unapplied.append((fact, f"settlement: {err}"))

    def _on_distribution(self, fact: f.ChainFact, distribution_id: UUID,
                         change: Callable[[Distribution], None]) -> None:
        try:
            change(self._distribution(distribution_id))
        except DomainError as err:
            self.unapplied.append((fact, f"{type(fact).__name__}: {err}"))

    def _swept(self, fact: f.VaultSwept) -> None:
        """A sweep this service sent is found by its transaction; any other sweep (someone
        holding the treasurer role, outside the service) is recorded on the cursor."""
        sent = self._find_treasury_tx(fact.tx_hash)
        if sent is None:
            self.unapplied.append((fact, f"a sweep of {fact.amount} this service did not send"))
            return
        self._on_distribution(fact, sent.distribution_id, lambda d: d.record_swept(
            amount=fact.amount, treasury=fact.treasury, tx_hash=fact.tx_hash))

    def _attribute_redemptions(self, distribution_id: UUID, tx_hash: str) -> None:
        """The vault's redemptions in `tx_hash` were this distribution's: recorded on the
        asset, so reconciliation checks units redeemed from the token's own logs. Someone
        else's forced redemption (an issuer's controller) is no distribution's: left out."""
        found = self.redeemed.pop(tx_hash, [])
        distribution = self.distributions.get(distribution_id)
        if not found or distribution is None:
            return
        asset = self.assets.get(distribution.asset_id) or self._get_asset(distribution.asset_id)
        mine = [r for r in found if asset.vault_address is not None
                and r.controller.lower() == asset.vault_address.lower()]
        if not mine:
            return
        try:
            asset.record_redemptions(distribution_id=distribution_id, tx_hash=tx_hash,
                                     units=sum(r.units for r in mine), holders=len(mine))
        except DomainError as err:
            self.unapplied.append((mine[0], f"redemptions: {err}"))
            return
        self.assets[asset.id] = asset

    def _administered(self, fact: f.VaultAdministered) -> None:
        """Settles the request this service sent in that transaction; anything else (an
        admin's own call with the admin key, the roles granted at deployment) is recorded as
        observed, so the ledger holds every change to the vault's administration."""
        ops = (self.vault_ops.get(fact.asset_id) or self._find_vault_ops(fact.asset_id)
               or VaultOps.open(fact.asset_id, fact.vault))
        if ops.administered(log=fact.event, tx_hash=fact.tx_hash, detail=fact.detail):
            self.vault_ops[fact.asset_id] = ops

    def _deposit(self, fact: f.VaultDeposit) -> None:
        self._on_asset(fact, fact.asset_id, lambda a: a.record_deposit(
            token=fact.token, sender=fact.sender, amount=fact.amount, tx_hash=fact.tx_hash))

    def _on_asset(self, fact: f.ChainFact, asset_id: UUID,
                  change: Callable[[Asset], None]) -> None:
        try:
            asset = self.assets.get(asset_id) or self._get_asset(asset_id)
            change(asset)
            self.assets[asset_id] = asset
        except (DomainError, NotFound) as err:
            self.unapplied.append((fact, f"{type(fact).__name__}: {err}"))

    def finish(self, from_block: int, to_block: int) -> list[Aggregate]:
        """Record each touched distribution's counters once, and complete it when all settled."""
        for d in self.distributions.values():
            paid, failed, amount = self.progress[d.id]
            try:
                d.record_progress(paid=paid, failed=failed, amount_paid=amount)
            except DomainError as err:  # facts beyond what was committed: never silently
                raise DomainError(f"distribution {d.id}: {err}") from err
            done = d.all_settled and (d.status is Status.EXECUTING or (
                d.status is Status.COMPLETED_WITH_FAILURES and failed == 0))
            if done:
                d.complete(paid=paid, failed=failed, amount_paid=amount)
        observed = [TransfersObserved(asset_id=asset_id, from_block=from_block, to_block=to_block,
                                      transfers=transfers)
                    for asset_id, transfers in self.transfers.items()]
        return [*self.distributions.values(), *self.batches.values(), *self.assets.values(),
                *self.vault_ops.values(), *observed]
