"""Final chain facts, decoded from logs, as the ledger applies them.

The ingestor turns logs into these values; `PayoutLedger.apply_chain_facts` turns them into
aggregate events and saves them with the cursor in one transaction. Nothing here is a guess:
each value is a log in a block at or below head - confirmations.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from uuid import UUID


@dataclass(frozen=True, slots=True)
class LeavesPaid:
    distribution_id: UUID
    leaf_indices: tuple[int, ...]
    tx_hash: str


@dataclass(frozen=True, slots=True)
class LeafFailed:
    distribution_id: UUID
    leaf_index: int
    account: str
    reason: str
    tx_hash: str


@dataclass(frozen=True, slots=True)
class LeavesAlreadyPaid:
    distribution_id: UUID
    leaf_indices: tuple[int, ...]
    tx_hash: str


@dataclass(frozen=True, slots=True)
class BatchSettledOnChain:
    distribution_id: UUID
    first_index: int
    count: int
    paid: int
    failed: int
    skipped: int
    amount_paid: int
    tx_hash: str
    gas_used: int


@dataclass(frozen=True, slots=True)
class LeafClaimed:
    distribution_id: UUID
    leaf_index: int
    account: str
    amount: int
    tx_hash: str


@dataclass(frozen=True, slots=True)
class DistributionReclaimed:
    """The vault's `Reclaimed` log: what a distribution left unpaid went to the treasury."""

    distribution_id: UUID
    treasury: str
    amount: int
    tx_hash: str


@dataclass(frozen=True, slots=True)
class VaultSwept:
    """The vault's `Swept` log. It names no distribution: the transaction's hash does."""

    vault: str
    token: str
    treasury: str
    amount: int
    tx_hash: str


@dataclass(frozen=True, slots=True)
class VaultAdministered:
    """A vault's `Paused`, `Unpaused`, `RoleGranted`, `RoleRevoked` or `Upgraded` log: settles
    the request of the asset's vault (domain.vault_admin) sent in that transaction, if any."""

    asset_id: UUID
    vault: str
    event: str
    tx_hash: str
    detail: str = ""  # what the log says (role, account, sender, implementation)


@dataclass(frozen=True, slots=True)
class VaultDeposit:
    asset_id: UUID
    vault: str
    token: str
    sender: str
    amount: int
    tx_hash: str


@dataclass(frozen=True, slots=True)
class ShareTransfer:
    """A security-token Transfer (mints from, and redemptions to, the zero address included)."""

    asset_id: UUID
    sender: str
    recipient: str
    amount: int
    tx_hash: str
    block_number: int
    log_index: int


@dataclass(frozen=True, slots=True)
class UnitsRedeemed:
    """The security token's `ControllerRedemption` log (ATS ERC-1644): `controller` redeemed
    `units` of `holder`. The vault's cash-outs and claims are such redemptions."""

    asset_id: UUID
    controller: str
    holder: str
    units: int
    tx_hash: str


@dataclass(frozen=True, slots=True)
class TokenSnapshotTaken:
    asset_id: UUID
    snapshot_id: int
    tx_hash: str
    block_number: int


@dataclass(frozen=True, slots=True)
class UnreadableLog:
    """A log we could not decode or apply: recorded on the cursor, never a stall."""

    block_number: int
    tx_hash: str
    log_index: int
    address: str
    reason: str


ChainFact = (LeavesPaid | LeafFailed | LeavesAlreadyPaid | BatchSettledOnChain | LeafClaimed
             | DistributionReclaimed | VaultSwept | VaultAdministered | VaultDeposit
             | ShareTransfer | UnitsRedeemed
             | TokenSnapshotTaken | UnreadableLog)


def coalesce_paid(facts: Iterable[ChainFact]) -> list[ChainFact]:
    """Adjacent `LeavesPaid` of one transaction and distribution as one fact.

    The vault emits one Paid log per 256-leaf bitmap word, so one batch transaction is two or
    three logs; the ledger records what one transaction paid as one event.
    """
    out: list[ChainFact] = []
    for fact in facts:
        last = out[-1] if out else None
        if isinstance(fact, LeavesPaid) and isinstance(last, LeavesPaid) \
                and (last.tx_hash, last.distribution_id) == (fact.tx_hash, fact.distribution_id):
            out[-1] = LeavesPaid(fact.distribution_id, last.leaf_indices + fact.leaf_indices,
                                 fact.tx_hash)
        else:
            out.append(fact)
    return out


def claims_not_paid(facts: Iterable[ChainFact]) -> list[ChainFact]:
    """A claimed leaf is CLAIMED, not PAID: leave it out of its transaction's `LeavesPaid`.

    The vault's `claim` sets the leaf's bitmap bit, so it emits `Paid` (the bitmap's log) and
    then `Claimed`; applied as they come, the leaf would be recorded paid by push and its
    claim refused as a second payment. The `Claimed` log alone says what happened.
    """
    facts = list(facts)
    claimed = {(c.tx_hash, c.distribution_id, c.leaf_index)
               for c in facts if isinstance(c, LeafClaimed)}
    if not claimed:
        return facts
    out: list[ChainFact] = []
    for fact in facts:
        if isinstance(fact, LeavesPaid):
            kept = tuple(i for i in fact.leaf_indices
                         if (fact.tx_hash, fact.distribution_id, i) not in claimed)
            if not kept:
                continue
            fact = LeavesPaid(fact.distribution_id, kept, fact.tx_hash)  # noqa: PLW2901
        out.append(fact)
    return out
