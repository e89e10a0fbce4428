"""One pending airdrop on the network, and which of our leaves it holds (HIP-904).

The network keeps ONE pending airdrop per (sender, receiver, token). A second airdrop to a
holder who has not claimed the first (another distribution paying the same unassociated
holder from the same payer) is added to it; the holder's claim, or the sender's
cancellation, then ends all of it at once. Leaves of different batches and distributions
share one fate, and no batch can see the others. This aggregate is where they meet, saved in
the same save as every batch change it mirrors:

- an airdrop to the holder is SENT here (its TransactionId, before it is submitted) and
  SETTLED here with its fate: the leaf it left pending is then HELD;
- a cancellation OPENS here before it is submitted, only when no airdrop to the holder is in
  flight, and no airdrop is sent while one is open: so a cancellation never ends an airdrop
  the ledger does not hold, and two processes doing both at once conflict on this
  aggregate's version instead of both succeeding;
- while a cancellation is open, the amount vanishing from the payer's outstanding airdrops
  is its doing, never read as a claim; once it succeeds it RELEASES every leaf held, of every
  batch; a claim releases every leaf whose airdrop had reached consensus by the horizon the
  claim was read at (the claim ended all of them).

The id is derived from the (payer, holder, token) triple: every process finds the same
aggregate.
"""

from __future__ import annotations

from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.errors import IllegalTransition
from domain.hts_recovery import DEFAULT_SKEW_SECONDS, MAX_VALID_SECONDS, NANOS
from domain.ids import NAMESPACE


class AirdropHeldBack(IllegalTransition):
    """No airdrop to this holder while a cancellation of their pending airdrop is in flight
    (it would be ended by it, unknown to the ledger): sent once its fate is known."""


def leg_key(batch_id: UUID, leaf_index: int) -> str:
    """A leaf's key here: its batch and index."""
    return f"{batch_id}/{leaf_index}"


def parse_leg(key: str) -> tuple[UUID, int]:
    batch, _, leaf = key.partition("/")
    return UUID(batch), int(leaf)


def latest_consensus(transaction_id: str) -> float:
    """The latest moment a TransactionId could have reached consensus: its valid start plus
    the longest validity window, plus the clocks' skew."""
    seconds, _, nanos = transaction_id.partition("@")[2].partition(".")
    return int(seconds) + int(nanos or 0) / NANOS + MAX_VALID_SECONDS + DEFAULT_SKEW_SECONDS


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
        self.legs: dict[str, int] = {}  # leg_key -> its net, pending on the network
        self.airdrops: dict[str, str] = {}  # leg_key -> the airdrop that left it pending
        self.sending: dict[str, list[str]] = {}  # airdrop TransactionId -> its legs here
        self.cancelling: str | None = None  # the TransactionId of an open cancellation

    @property
    def amount(self) -> int:
        """What the network's pending airdrop holds, if nothing unknown to us is in it."""
        return sum(self.legs.values())

    # --- airdrops: sent (recorded before submitting), settled with their fate ---

    class AirdropSent(Aggregate.Event):
        transaction_id: str
        legs: list[str]

    def send_airdrop(self, *, transaction_id: str, legs: list[str]) -> None:
        if self.cancelling is not None:
            raise AirdropHeldBack(f"{self.holder}: the cancellation {self.cancelling} of their"
                                  " pending airdrop is in flight; no airdrop until its fate"
                                  " is known")
        if transaction_id not in self.sending:
            self._airdrop_sent(transaction_id=transaction_id, legs=legs)

    @event(AirdropSent)
    def _airdrop_sent(self, transaction_id: str, legs: list[str]) -> None:
        self.sending[transaction_id] = legs

    class AirdropSettled(Aggregate.Event):
        """Its fate: `held` are the legs it left pending (leg -> net); the others were
        credited at once, or it failed or never executed."""

        transaction_id: str
        held: dict[str, int]

    def settle_airdrop(self, *, transaction_id: str, held: dict[str, int]) -> None:
        if transaction_id in self.sending:
            self._airdrop_settled(transaction_id=transaction_id, held=held)

    @event(AirdropSettled)
    def _airdrop_settled(self, transaction_id: str, held: dict[str, int]) -> None:
        del self.sending[transaction_id]
        for leg, net in held.items():
            self.legs[leg] = net
            self.airdrops[leg] = transaction_id

    class Held(Aggregate.Event):
        """A leaf made pending before this aggregate kept them, adopted from its batch."""

        leg: str
        net: int
        airdrop: str

    def adopt(self, *, leg: str, net: int, airdrop: str) -> None:
        if self.cancelling is not None:
            raise IllegalTransition(f"{self.holder}: the cancellation {self.cancelling} is in"
                                    " flight; its fate decides first")
        if leg not in self.legs:
            self._held(leg=leg, net=net, airdrop=airdrop)

    @event(Held)
    def _held(self, leg: str, net: int, airdrop: str) -> None:
        self.legs[leg] = net
        self.airdrops[leg] = airdrop

    # --- released by a claim or a cancellation ---

    class Released(Aggregate.Event):
        """`by`: "claim", or the cancellation's TransactionId."""

        legs: list[str]
        by: str

    def release_claimed(self, *, indexed_until: float) -> list[str]:
        """The holder's pending airdrop is gone, read at `indexed_until`, with no cancellation
        of ours in flight: the holder claimed it, and with it every leaf whose airdrop had
        reached consensus by then. Returns them (refused while a cancellation is open)."""
        if self.cancelling is not None:
            raise IllegalTransition(f"{self.holder}: the cancellation {self.cancelling} is in"
                                    " flight; its fate decides these leaves")
        legs = [leg for leg, airdrop in self.airdrops.items()
                if latest_consensus(airdrop) <= indexed_until]
        if legs:
            self._released(legs=legs, by="claim")
        return legs

    def release_cancelled(self, *, transaction_id: str, legs: list[str]) -> None:
        """A cancellation opened before this aggregate kept them ended these legs alone."""
        held = [leg for leg in legs if leg in self.legs]
        if held:
            self._released(legs=held, by=transaction_id)

    @event(Released)
    def _released(self, legs: list[str], by: str) -> None:
        for leg in legs:
            del self.legs[leg]
            del self.airdrops[leg]
        if by == self.cancelling:
            self.cancelling = None

    # --- a cancellation: opened before it is sent, then settled, failed or dead ---

    class CancelOpened(Aggregate.Event):
        transaction_id: str
        legs: list[str]  # every leaf it ends, of any batch

    def open_cancel(self, *, transaction_id: str, expected: list[str] | None = None) -> None:
        """`expected`: the legs the decision to cancel was taken on; refused if it would
        end others (held since, by another batch: their deadlines were not checked)."""
        if expected is not None and sorted(expected) != sorted(self.legs):
            raise IllegalTransition(f"{self.holder}: the pending airdrop changed since it was"
                                    " read; read it again before cancelling")
        if self.cancelling is not None:
            raise IllegalTransition(f"{self.holder}: {self.cancelling} already cancels this"
                                    " pending airdrop")
        if self.sending:
            raise IllegalTransition(f"{self.holder}: the airdrop {next(iter(self.sending))} is"
                                    " in flight; its fate first")
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
