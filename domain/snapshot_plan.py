"""A snapshot's plan: the entitlements, their totals, the Merkle tree and the batches that
one frozen set of balances gives under a distribution's terms.

One function, because two callers must agree to the unit: `PayoutLedger.snapshot_distribution`
records this plan, and the preview (`app.preview`) shows it without recording anything. Kept
out of `domain.planning` (batch sizing) and `domain.entitlements` (the rules): it only
composes them, in the one order that makes the root and the batches deterministic.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from domain.entitlements import (
    Entitlement,
    EntitlementCalculator,
    Snapshot,
    Tally,
    Totals,
    leaf_amount,
)
from domain.hts_planning import plan_hts_snapshot
from domain.merkle import MerkleTree, leaf_hash
from domain.planning import BatchPlan, GasModel, plan_batches
from domain.rails import Rail
from domain.terms import DistributionKind, DistributionTerms, RuleKind


@dataclass(slots=True)
class SnapshotPlan:
    totals: Totals
    tree: MerkleTree
    batches: list[BatchPlan]  # in order; each holds its entitlements (skipped ones too)
    vault_balance: int | None  # as frozen: only a PERCENTAGE rule depends on it


def batch_gas_model(terms: DistributionTerms, gas_model: GasModel) -> GasModel:
    """The gas model a distribution's batches are sized by: a CASH_OUT redeems every holder
    too (`cashOut`), a costlier call than `payBatch`. The caller passes the model on to
    `plan_snapshot` and to the batches' gas limits, so both agree."""
    return gas_model.for_cash_out() if terms.kind is DistributionKind.CASH_OUT else gas_model


def plan_snapshot(terms: DistributionTerms, snapshot: Snapshot, decimals: int,
                  vault_balance: int | None, gas_model: GasModel,
                  observe: Callable[[Entitlement], None] | None = None,
                  rail: Rail = Rail.VAULT) -> SnapshotPlan:
    """Calculator → tally → leaf hashes → batches → tree. `observe` sees each entitlement
    once, in ledger order (the preview counts skipped holders with it)."""
    if terms.rule.kind is not RuleKind.PERCENTAGE:
        vault_balance = None  # frozen only where the rule depends on it
    calculator = EntitlementCalculator(terms, snapshot, decimals, vault_balance)
    tally = Tally()
    leaf_hashes: list[bytes] = []

    def tallied() -> Iterator[Entitlement]:
        for e in calculator:
            tally.add(e)
            if e.leaf_index is not None:
                leaf_hashes.append(leaf_hash(e.leaf_index, e.account,
                                             leaf_amount(terms.kind, e.balance, e.net)))
            if observe is not None:
                observe(e)
            yield e

    # eligible_count bounds the leaf count from above: the proof sizing needs it up front
    if rail is Rail.HTS:  # native transfers: ≤ 10 balance changes and 6,144 bytes, no gas
        batches = list(plan_hts_snapshot(tallied()))
    else:
        capacity = gas_model.capacity(calculator.eligible_count)
        batches = list(plan_batches(tallied(), capacity, gas_model.max_holders_per_batch))
    return SnapshotPlan(tally.totals(calculator.pool), MerkleTree(leaf_hashes), batches,
                        vault_balance)
