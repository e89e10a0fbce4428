"""ChainCursor: how far a contract's logs have been ingested, and what could not be read.

It advances only in the same transaction as the events its range produced, so a crash mid-range
replays the range, and nothing is recorded twice. A block hash mismatch at the cursor means a
reorg deeper than the confirmations: ingestion stops, loudly, and the stop is itself a fact
(`Halted`, recorded once per mismatch) so that the dashboard and webhooks can tell a person;
events are never deleted. The cursor stays halted until the chain agrees with it again.
"""

from __future__ import annotations

from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.errors import DomainError, IllegalTransition
from domain.ids import NAMESPACE


class ReorgDetected(DomainError):
    """The chain no longer contains the block the cursor stands on."""


class ChainCursor(Aggregate):
    class Started(Aggregate.Created):
        chain_id: int
        contract: str
        from_block: int

    class Advanced(Aggregate.Event):
        to_block: int
        block_hash: str
        facts: int

    class LogUnreadable(Aggregate.Event):
        block_number: int
        tx_hash: str
        log_index: int
        address: str
        reason: str

    class Halted(Aggregate.Event):
        contract: str
        block_number: int  # the cursor's last block, which the chain no longer has
        recorded_hash: str
        chain_hash: str  # what the chain has at that height now ("" if nothing)
        reason: str

    @staticmethod
    def create_id(chain_id: int, contract: str) -> UUID:
        return uuid5(NAMESPACE, f"cursor/{chain_id}/{contract.lower()}")

    @event(Started)
    def __init__(self, chain_id: int, contract: str, from_block: int) -> None:
        self.chain_id = chain_id
        self.contract = contract
        self.last_block = from_block - 1  # nothing ingested yet
        self.last_hash: str | None = None
        self.unreadable = 0
        self.halted: str | None = None  # why ingestion stopped, until the chain agrees again
        self._halted_at: str | None = None  # "block/chain hash" of the halt recorded

    def check_no_reorg(self, chain_hash_at_cursor: str | None) -> None:
        if self.last_hash is not None and chain_hash_at_cursor != self.last_hash:
            raise ReorgDetected(
                f"block {self.last_block} was {self.last_hash}, the chain now has "
                f"{chain_hash_at_cursor}: a reorg deeper than the confirmations; ingestion halted"
            )

    def halt(self, reorg: ReorgDetected, chain_hash_at_cursor: str | None) -> bool:
        """Record that ingestion stopped on `reorg`; False (nothing recorded) when this very
        mismatch is already recorded: a retried step records no second halt."""
        key = f"{self.last_block}/{chain_hash_at_cursor or ''}"
        if self._halted_at == key:
            return False
        self._halt(contract=self.contract, block_number=self.last_block,
                   recorded_hash=self.last_hash or "", chain_hash=chain_hash_at_cursor or "",
                   reason=str(reorg)[:500])
        return True

    @event(Halted)
    def _halt(self, contract: str, block_number: int, recorded_hash: str, chain_hash: str,
              reason: str) -> None:
        self.halted = reason
        self._halted_at = f"{block_number}/{chain_hash}"

    def advance(self, to_block: int, block_hash: str, facts: int) -> None:
        if to_block <= self.last_block:
            raise IllegalTransition(f"cursor is at {self.last_block}; cannot move to {to_block}")
        self._advanced(to_block=to_block, block_hash=block_hash, facts=facts)

    @event(Advanced)
    def _advanced(self, to_block: int, block_hash: str, facts: int) -> None:
        self.last_block = to_block
        self.last_hash = block_hash
        self.halted, self._halted_at = None, None  # the chain agrees again

    def record_unreadable(self, *, block_number: int, tx_hash: str, log_index: int,
                          address: str, reason: str) -> None:
        self._log_unreadable(block_number=block_number, tx_hash=tx_hash, log_index=log_index,
                             address=address, reason=reason[:500])

    @event(LogUnreadable)
    def _log_unreadable(self, block_number: int, tx_hash: str, log_index: int, address: str,
                        reason: str) -> None:
        self.unreadable += 1
