"""Batch planning: contiguous leaf ranges sized by a gas budget (and, on networks that limit
it, by calldata bytes), never by a fixed count.

The reference product sent 100 holders per call with a fixed 650k gas limit, which fits 9-14.
Here the per-holder cost comes from the measured gas model of our PayoutVault
(`mass-payout bench gas`), the pessimistic first-time-payee figure is used (a planner cannot
know who already holds the payment token), and the budget stays under Hedera's 15M cap.
`GasModel.for_network` adds the network profile's calldata limit (Hedera's relay refuses call
data over 128 KiB, `domain/network.py`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace

from domain.entitlements import Entitlement
from domain.errors import InvalidInput
from domain.network import HEDERA_TX_GAS_CAP, NetworkProfile

WORD = 32
# payBatch(bytes32, uint256, bytes, bytes32[], bytes32[], bytes): the selector, six head words,
# and a length word for each of the four dynamic arguments.
PAY_BATCH_FIXED_BYTES = 4 + 6 * WORD + 4 * WORD


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
    max_calldata_bytes: int | None = None  # the network's call data limit; None: gas only

    @classmethod
    def for_network(cls, profile: NetworkProfile) -> GasModel:
        """The default model within `profile`'s limits: its gas cap and its calldata limit."""
        model = cls()
        budget = min(model.budget, profile.gas_cap or model.budget)
        return cls(budget=budget, max_calldata_bytes=profile.max_calldata_bytes)

    # cashOut: per holder a redeem (controllerRedeem through a self-call, which writes the
    # bond's snapshot checkpoints of the holder and the supply) and a transfer. Measured
    # (eth_estimateGas on anvil, a fresh payee, after the maturity snapshot): ~291,000 fixed
    # and ~115,900 per holder, which the 63/64 gas forwarding of each holder's self-call
    # inflates; `mass-payout bench gas` fits ~154,000 + ~100,600 a holder of gas used.
    cash_out_fixed: int = 300_000
    cash_out_per_leaf: int = 120_000

    def for_cash_out(self) -> GasModel:
        """The model of a cashOut batch: the same budget, a holder's redeem added."""
        return replace(self, fixed_per_call=self.cash_out_fixed,
                       per_leaf=self.cash_out_per_leaf)

    def __post_init__(self) -> None:
        if not 0 < self.budget <= HEDERA_TX_GAS_CAP:
            raise InvalidInput(f"gas budget must be in (0, {HEDERA_TX_GAS_CAP}]")
        if min(self.fixed_per_call, self.per_leaf, self.per_proof_hash) <= 0:
            raise InvalidInput("gas model figures must be positive")
        if self.max_holders_per_batch <= 0:
            raise InvalidInput("max holders per batch must be positive")
        if self.max_calldata_bytes is not None and self.max_calldata_bytes <= 0:
            raise InvalidInput("the calldata limit must be positive")

    def proof_hashes(self, leaf_count: int) -> int:
        """Upper bound of a contiguous range's multiproof: two boundary paths."""
        return 2 * max(1, (leaf_count - 1).bit_length())

    def capacity(self, leaf_count: int) -> int:
        room = self.budget - self.fixed_per_call - self.per_proof_hash * self.proof_hashes(
            leaf_count
        )
        if room < self.per_leaf:
            raise InvalidInput("the gas budget does not fit a single payment")
        by_gas = room // self.per_leaf
        limit = self.max_calldata_bytes
        if limit is None or self.calldata_bytes(by_gas, leaf_count) <= limit:
            return by_gas
        if self.calldata_bytes(1, leaf_count) > limit:
            raise InvalidInput("the calldata limit does not fit a single payment")
        low, high = 1, by_gas  # calldata grows with the leaves: the largest count that fits
        while low < high:
            mid = (low + high + 1) // 2
            low, high = (mid, high) if self.calldata_bytes(mid, leaf_count) <= limit else (
                low, mid - 1)
        return low

    def calldata_bytes(self, leaves: int, leaf_count: int) -> int:
        """payBatch's calldata, at its largest: a resubmission that names every index (4 bytes
        each), one 32-byte word per leaf, the proof's hashes and its bit-packed flags
        (`chain/vault.py`)."""
        proof = self.proof_hashes(leaf_count)
        flag_bytes = (leaves + proof - 1 + 7) // 8
        return (PAY_BATCH_FIXED_BYTES + _padded(4 * leaves) + WORD * leaves + WORD * proof
                + _padded(flag_bytes))

    def gas_limit(self, leaves: int, leaf_count: int) -> int:
        return (self.fixed_per_call + self.per_leaf * leaves
                + self.per_proof_hash * self.proof_hashes(leaf_count))


def _padded(size: int) -> int:
    return (size + WORD - 1) // WORD * WORD


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
