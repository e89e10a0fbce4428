"""A TransactionId is used once, ledger-wide: a guarantee, not the clock's good manners.

Hedera deduplicates by TransactionId (payer@valid start). Two workers sharing one payer that
chose the same valid start would sign two different transactions under one id: the network
runs the first it sees and answers DUPLICATE_TRANSACTION to the other, whose batch would then
read the first one's receipt as its own. Choosing the start from the clock (ns, strictly
increasing per process) makes that unlikely; it does not make it impossible across processes
or hosts.

Chosen: each recorded TransactionId is also an aggregate whose id is derived from the
TransactionId (uuid5), created in the SAME save as the batch's `HtsSubmitted` (or the
distribution's HCS commitment submission: same payer, same id space). The event
store's primary key (aggregate id, version 1) then refuses a second use atomically, whichever
process tries: the loser records nothing and picks another valid start. A deterministic
derivation of the valid start from (batch, attempt) was the alternative; it cannot be both
collision-free across batches and inside the network's validity window around "now".
"""

from __future__ import annotations

from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate

from domain.errors import AlreadyExists
from domain.ids import NAMESPACE


class HtsTransactionIdUse(Aggregate):
    class Used(Aggregate.Created):
        """`recorded_by`: the batch (a payment, a cancellation) or the distribution (its HCS
        commitment) that recorded the TransactionId."""

        transaction_id: str
        recorded_by: UUID

    @staticmethod
    def create_id(transaction_id: str) -> UUID:
        return uuid5(NAMESPACE, f"hts-transaction-id/{transaction_id}")

    @classmethod
    def use(cls, *, transaction_id: str, recorded_by: UUID) -> HtsTransactionIdUse:
        return cls._create(cls.Used, id=cls.create_id(transaction_id),
                           transaction_id=transaction_id, recorded_by=recorded_by)

    def __init__(self, transaction_id: str, recorded_by: UUID) -> None:
        self.transaction_id = transaction_id
        self.recorded_by = recorded_by


class TransactionIdTaken(AlreadyExists):
    """Another batch (any process) already recorded this TransactionId."""
