"""One pending airdrop on the network, and which of our leaves it holds (HIP-904).

The network keeps ONE pending airdrop per (sender, receiver, token). A second airdrop to a
holder who has not claimed the first (another distribution paying the same unassociated
holder from the same payer) is added to it; the holder's claim, or the sender's
cancellation, then ends all of it at once. Leaves of different batches and distributions
share one fate, and no batch can see the others. This aggregate is where they meet:

- an airdrop that left a leaf pending HOLDS it here, in the same save as the batch's
  `HtsAirdropPending`; a claim or a cancellation RELEASES it in the same save as the batch's;
- a cancellation OPENS here (the TransactionId, in the same save as its `HtsSubmitted`) and
  while it is open no leaf may be released as claimed: the amount vanishing from the
  payer's outstanding airdrops is then that cancellation's doing, not the holder's claim;
- once every leaf's claim deadline has passed, one cancellation ends the merged airdrop for
  all its leaves, sent by one batch (the `owner`) and applied to every batch it held.

The id is derived from the (payer, holder, token) triple: every process finds the same
aggregate, and two saves that touch it concurrently conflict instead of both succeeding.
"""

from __future__ import annotations

from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.errors import IllegalTransition
from domain.ids import NAMESPACE


def leg_key(batch_id: UUID, leaf_index: int) -> str:
    """A held leaf's key: its batch and index (ordered, so `owner` is the same everywhere)."""
    return f"{batch_id}/{leaf_index}"


def parse_leg(key: str) -> tuple[UUID, int]:
    batch, _, leaf = key.partition("/")
    return UUID(batch), int(leaf)


class PendingAirdrop(Aggregate):
    """Lives as long as the (payer, holder, token) triple: held, released, held again."""

    @staticmethod
    def create_id(payer: str, holder: str, token: str) -> UUID:
        return uuid5(NAMESPACE, f"hts-pending-airdrop/{payer}/{holder.lower()}/{token.lower()}")

    class Started(Aggregate.Created):
        payer: str
        holder: str
        token: str

    @classmethod
    def start(cls, *, payer: str, holder: str, token: str) -> PendingAirdrop:
        return cls._create(cls.Started, id=cls.create_id(payer, holder, token), payer=payer,
                           holder=holder, token=token)

    def __init__(self, payer: str, holder: str, token: str) -> None:
        self.payer, self.holder, self.token = payer, holder, token
        self.legs: dict[str, int] = {}  # leg_key -> its net, in the order they were held
        self.cancelling: str | None = None  # the TransactionId of an open cancellation

    @property
    def owner(self) -> str | None:
        """The leg whose batch sends a cancellation of the whole (the smallest key)."""
        return min(self.legs) if self.legs else None

    @property
    def amount(self) -> int:
        """What the network's pending airdrop should hold, if all of it is ours and known."""
        return sum(self.legs.values())

    # --- held by an airdrop, released by a claim or a cancellation ---

    class Held(Aggregate.Event):
        leg: str
        net: int
        airdrop: str  # the TransactionId that left it pending

    def hold(self, *, leg: str, net: int, airdrop: str) -> None:
        if leg in self.legs:
            return  # the same airdrop's outcome applied again: nothing new
        if self.cancelling is not None:
            # Only if the airdrop executed after the cancellation was sent: the network
            # then holds it apart from what the cancellation ends. Refused, so the operator
            # hears of it instead of the leaf being cancelled with the others.
            raise IllegalTransition(f"{self.holder}: a cancellation ({self.cancelling}) is in"
                                    f" flight; {airdrop} cannot join the pending airdrop now")
        self._held(leg=leg, net=net, airdrop=airdrop)

    @event(Held)
    def _held(self, leg: str, net: int, airdrop: str) -> None:
        self.legs[leg] = net

    class Released(Aggregate.Event):
        """`by`: "claim", or the cancellation's TransactionId."""

        legs: list[str]
        by: str

    def release_claimed(self, *, legs: list[str]) -> None:
        """The holder claimed: refused while a cancellation is open (its fate decides)."""
        if self.cancelling is not None:
            raise IllegalTransition(f"{self.holder}: the cancellation {self.cancelling} is in"
                                    " flight; its fate decides these leaves")
        held = [leg for leg in legs if leg in self.legs]
        if held:
            self._released(legs=held, by="claim")

    @event(Released)
    def _released(self, legs: list[str], by: str) -> None:
        for leg in legs:
            del self.legs[leg]
        if by == self.cancelling:
            self.cancelling = None

    # --- a cancellation: opened before it is sent, then settled, failed or dead ---

    class CancelOpened(Aggregate.Event):
        transaction_id: str
        legs: list[str]  # every leaf it ends, of any batch

    def open_cancel(self, *, transaction_id: str) -> None:
        if self.cancelling is not None:
            raise IllegalTransition(f"{self.holder}: {self.cancelling} already cancels this"
                                    " pending airdrop")
        if not self.legs:
            raise IllegalTransition(f"{self.holder}: no leaf is pending here to cancel")
        self._cancel_opened(transaction_id=transaction_id, legs=list(self.legs))

    @event(CancelOpened)
    def _cancel_opened(self, transaction_id: str, legs: list[str]) -> None:
        self.cancelling = transaction_id

    def cancelled(self, *, transaction_id: str) -> list[str]:
        """The cancellation settled SUCCESS: every leg it ends, released. Returns them."""
        if self.cancelling != transaction_id:
            raise IllegalTransition(f"{transaction_id} is not the open cancellation of"
                                    f" {self.holder}'s pending airdrop")
        legs = list(self.legs)
        self._released(legs=legs, by=transaction_id)
        return legs

    class CancelClosed(Aggregate.Event):
        """The cancellation failed or provably never executed: the leaves stay pending."""

        transaction_id: str
        status: str

    def close_cancel(self, *, transaction_id: str, status: str) -> None:
        if self.cancelling == transaction_id:
            self._cancel_closed(transaction_id=transaction_id, status=status[:200])

    @event(CancelClosed)
    def _cancel_closed(self, transaction_id: str, status: str) -> None:
        self.cancelling = None
