"""Treasury operations on a distribution's money left in the vault.

- RECLAIM, after the claim deadline: the vault returns what was committed and not paid
  (`totalNet - paid`) to its treasury, and closes the distribution to claims.
- SWEEP: money the distribution left in the vault beyond its holders' net (dust, withheld
  tax, skipped holders' shares, when the issuer funded the gross) goes to the treasury, or
  withheld tax to the asset's tax authority and dust to its dust account (`sweepTo`).

Each is requested by one person and approved by another (four eyes), then sent by the
treasurer's key; its outcome comes back only from the vault's `Reclaimed`/`Swept` logs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate

from domain.ids import NAMESPACE


class TreasuryKind(StrEnum):
    RECLAIM = "RECLAIM"
    SWEEP = "SWEEP"


class SweepDestination(StrEnum):
    """Where a sweep sends its money: the vault's treasury, or an account configured on the
    asset (`Asset.set_sweep_accounts`) that the vault's admin also allowed on-chain."""

    TREASURY = "TREASURY"  # anything left beyond the holders' net
    TAX_AUTHORITY = "TAX_AUTHORITY"  # at most the tax withheld
    DUST = "DUST"  # at most the rounding dust


class TreasuryState(StrEnum):
    REQUESTED = "REQUESTED"  # waits for a second person
    APPROVED = "APPROVED"  # waits for the treasurer's worker
    SUBMITTED = "SUBMITTED"  # signed and recorded; the chain's log settles it
    DONE = "DONE"  # the vault's log was ingested
    REJECTED = "REJECTED"  # the chain refused it (reverted): nothing moved; request again


OPEN_STATES = frozenset({TreasuryState.REQUESTED, TreasuryState.APPROVED,
                         TreasuryState.SUBMITTED})


@dataclass
class TreasuryOp:
    number: int
    kind: TreasuryKind
    amount: int  # a sweep's amount; a reclaim's is what the vault returned (once DONE)
    reason: str
    requested_by: str
    requested_at: datetime
    state: TreasuryState = TreasuryState.REQUESTED
    approved_by: str | None = None
    tx_hashes: list[str] = field(default_factory=list)
    nonces: list[int] = field(default_factory=list)
    last_signed_at: datetime | None = None
    settled_tx: str | None = None
    rejection: str | None = None
    destination: SweepDestination = SweepDestination.TREASURY
    recipient: str | None = None  # a sweep's configured account; None: the vault's treasury


class TreasuryTx(Aggregate):
    """Which distribution's operation a treasury transaction is: the vault's `Swept` log names
    no distribution, so the ingestor finds it by the transaction's hash (a deterministic id),
    recorded in the same save as the submission."""

    class Sent(Aggregate.Created):
        tx_hash: str
        distribution_id: UUID
        number: int

    @staticmethod
    def create_id(tx_hash: str) -> UUID:
        return uuid5(NAMESPACE, f"treasury-tx/{tx_hash.lower()}")

    @classmethod
    def sent(cls, *, tx_hash: str, distribution_id: UUID, number: int) -> TreasuryTx:
        return cls._create(cls.Sent, id=cls.create_id(tx_hash), tx_hash=tx_hash.lower(),
                           distribution_id=distribution_id, number=number)

    def __init__(self, tx_hash: str, distribution_id: UUID, number: int) -> None:
        self.tx_hash = tx_hash
        self.distribution_id = distribution_id
        self.number = number
