"""Batch planning: contiguous leaf ranges sized by a gas budget, never by a fixed count.

The reference product sent 100 holders per call with a fixed 650k gas limit, which fits 9-14.
Here the per-holder cost comes from the measured gas model of our PayoutVault
(`mass-payout bench gas`), the pessimistic first-time-payee figure is used (a planner cannot
know who already holds the payment token), and the budget stays under Hedera's 15M cap.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from domain.entitlements import Entitlement
from domain.errors import InvalidInput

HEDERA_TX_GAS_CAP = 15_000_000


@dataclass(frozen=True, slots=True)
class GasModel:
    """Gas of one payBatch: fixed + per_leaf x leaves + per_proof_hash x proof length.

    Defaults come from `mass-payout bench gas` (cancun, solc 0.8.30): fixed 74,757 and
    27,235 per first-time payee, rounded up for headroom; a proof hash is 32 bytes of
    calldata (~512 gas) plus one keccak in the verifier. Hedera bills at least 80 % of the
    gas limit, so limits follow the model per batch rather than a flat maximum.
    """

    fixed_per_call: int = 80_000
    per_leaf: int = 28_500
    per_proof_hash: int = 700
    budget: int = 12_000_000  # what one transaction may use; headroom under the cap
    max_holders_per_batch: int = 1_000  # bounds a batch aggregate even when most are skipped

    def __post_init__(self) -> None:
        if not 0 < self.budget <= HEDERA_TX_GAS_CAP:
            raise InvalidInput(f"gas budget must be in (0, {HEDERA_TX_GAS_CAP}]")
        if min(self.fixed_per_call, self.per_leaf, self.per_proof_hash) <= 0:
            raise InvalidInput("gas model figures must be positive")
        if self.max_holders_per_batch <= 0:
            raise InvalidInput("max holders per batch must be positive")

    def proof_hashes(self, leaf_count: int) -> int:
        """Upper bound of a contiguous range's multiproof: two boundary paths."""
        return 2 * max(1, (leaf_count - 1).bit_length())

    def capacity(self, leaf_count: int) -> int:
        room = self.budget - self.fixed_per_call - self.per_proof_hash * self.proof_hashes(
            leaf_count
        )
        if room < self.per_leaf:
            raise InvalidInput("the gas budget does not fit a single payment")
        return room // self.per_leaf

    def gas_limit(self, leaves: int, leaf_count: int) -> int:
        return (self.fixed_per_call + self.per_leaf * leaves
                + self.per_proof_hash * self.proof_hashes(leaf_count))


@dataclass(slots=True)
class BatchPlan:
    number: int
    first_leaf: int
    holders: list[Entitlement] = field(default_factory=list)
    leaf_count: int = 0
    total_net: int = 0


def plan_batches(entitlements: Iterable[Entitlement], capacity: int,
                 max_holders: int) -> Iterator[BatchPlan]:
    """Cut the ordered entitlements into batches of at most `capacity` leaves.

    Skipped holders ride along with the batch they fall in, so every holder has exactly one
    batch (its audit home) and leaf ranges stay contiguous and gap-free.
    """
    current = BatchPlan(number=0, first_leaf=0)
    for e in entitlements:
        full = current.leaf_count == capacity and e.leaf_index is not None
        if full or len(current.holders) == max_holders:
            yield current
            current = BatchPlan(number=current.number + 1,
                                first_leaf=current.first_leaf + current.leaf_count)
        current.holders.append(e)
        if e.leaf_index is not None:
            current.leaf_count += 1
            current.total_net += e.net
    if current.holders:
        yield current
