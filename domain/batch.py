"""PayoutBatch: one contiguous range of leaves, paid by one on-chain transaction at a time.

The batch is also the audit home of every holder in its slice of the ordered holder list,
skipped ones included: one `HoldersEntitled` event right after `Planned` lists them all.
Outcomes come back only from final chain facts (the ingestor); a worker records that it
submitted, never what happened: `LeavesPaid` per paying transaction, `LeafFailed` and
`LeafClaimed` per leaf.

Event granularity follows the facts, not the holders: the entitlements of a batch are decided
together (one snapshot command) and its leaves are paid together (one transaction), so each is
one event. Every worker, the supervisor and the ingestor load batches again and again; with one
event per holder a batch was ~420 events to replay on every load, most of each process's CPU.
Batches recorded before this change (`HolderEntitled` and `LeafPaid` per holder) still replay:
those event classes and their methods stay, they are just no longer emitted.
"""

from __future__ import annotations

import copy
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain import ids
from domain.entitlements import Entitlement, SkipReason
from domain.errors import IllegalTransition, InvalidInput
from domain.values import utc


class BatchStatus(StrEnum):
    PLANNED = "PLANNED"
    SUBMITTED = "SUBMITTED"
    SETTLED = "SETTLED"
    BLOCKED = "BLOCKED"  # a submission was refused for good; waits for an operator


class LeafOutcome(StrEnum):
    PAID = "PAID"
    FAILED = "FAILED"
    CLAIMED = "CLAIMED"  # paid by the holder's own claim (pull fallback)
    # HTS airdrop to a holder not associated with the token (HIP-904): the tokens are still
    # the payer's until the holder claims the pending airdrop (then PAID) or it is cancelled
    # after the claim deadline (then CANCELLED: the holder was not paid; nothing moved).
    PENDING_CLAIM = "PENDING_CLAIM"
    CANCELLED = "CANCELLED"


PAID_OUTCOMES = frozenset({LeafOutcome.PAID, LeafOutcome.CLAIMED})
# Not paid, for good: counted as failed by the distribution.
UNPAID_OUTCOMES = frozenset({LeafOutcome.FAILED, LeafOutcome.CANCELLED})
HTS_KINDS = ("transfer", "airdrop", "cancel")
# A `HoldersEntitled` row, in order.
HOLDER_FIELDS = ("position", "account", "balance", "gross", "withheld", "net", "leaf_index",
                 "skip_reason")
# Attributes holding only frozen Entitlement records, fixed once the batch is planned.
SHARED_RECORDS = frozenset({"holders", "leaves"})


class PayoutBatch(Aggregate):
    class Planned(Aggregate.Created):
        distribution_id: UUID
        number: int
        first_leaf: int
        leaf_count: int
        total_net: int
        range_proof: list[str]
        gas_limit: int

    class HoldersEntitled(Aggregate.Event):
        """Every holder of the batch's slice, in order: rows of HOLDER_FIELDS."""

        holders: list[list[Any]]

    class HolderEntitled(Aggregate.Event):
        """One holder (batches recorded before `HoldersEntitled`; replayed, never emitted)."""

        position: int
        account: str
        balance: int
        gross: int
        withheld: int
        net: int
        leaf_index: int | None
        skip_reason: str | None

    class Submitted(Aggregate.Event):
        tx_hash: str
        nonce: int
        attempt: int
        leaf_indices: list[int]
        signed_at: datetime

    class SubmissionRejected(Aggregate.Event):
        """The chain refused a submission for good (reverted, or rejected at broadcast)."""

        tx_hash: str
        reason: str

    class LeavesPaid(Aggregate.Event):
        """One transaction paid these leaves, each exactly its net; `amount` is their sum."""

        leaf_indices: list[int]
        amount: int
        tx_hash: str

    class LeafPaid(Aggregate.Event):
        """One leaf paid (batches recorded before `LeavesPaid`; replayed, never emitted)."""

        leaf_index: int
        amount: int
        tx_hash: str

    class LeafFailed(Aggregate.Event):
        leaf_index: int
        reason: str
        tx_hash: str

    class LeafClaimed(Aggregate.Event):
        leaf_index: int
        amount: int
        tx_hash: str

    class AttemptFailed(Aggregate.Event):
        """A worker's attempt hit a transient fault (RPC, nonce, fee, timeout) before any
        outcome: retried at `retry_at`, or, with None, attempts ran out (BLOCKED)."""

        attempt: int
        reason: str
        retry_at: datetime | None

    class RetryRequested(Aggregate.Event):
        """Failed leaves go back to undecided; a blocked batch is unblocked."""

        leaf_indices: list[int]
        unblocked: bool
        actor: str

    class Settled(Aggregate.Event):
        tx_hash: str
        paid: int
        failed: int
        already_paid: int
        amount_paid: int
        gas_used: int

    class HtsSubmitted(Aggregate.Event):
        """A Hedera transaction paying these leaves, recorded before it is submitted. Its
        TransactionId (payer@valid start) is the idempotency key: the network executes it at
        most once, and never after valid start + valid seconds."""

        transaction_id: str
        valid_start_ns: int
        valid_seconds: int
        kind: str  # "transfer" | "airdrop" | "cancel" (of these leaves' pending airdrops)
        attempt: int
        leaf_indices: list[int]

    class HtsTransactionDead(Aggregate.Event):
        """Proven never to have executed (its window closed and the Mirror Node, caught up
        past it, has no record): its leaves may now be paid under a new TransactionId."""

        transaction_id: str

    class HtsTransactionFailed(Aggregate.Event):
        """An atomic HTS transaction failed for a reason its receipt does not pin on one
        holder (or one an airdrop answers): no leaf outcome is recorded; its leaves are
        undecided again and the batch pays its holders one at a time from now on."""

        transaction_id: str
        status: str

    class HtsAirdropPending(Aggregate.Event):
        """An airdrop succeeded, but these leaves' holders were not associated with the
        token: each has a pending airdrop (HIP-904); the tokens stay with the payer until the
        holder claims them. `amount` is their sum."""

        transaction_id: str
        leaf_indices: list[int]
        amount: int

    class HtsAirdropClaimed(Aggregate.Event):
        """The holders claimed these leaves' pending airdrops: paid, each exactly its net,
        by the airdrop in `transaction_ids` (one per leaf, in order). `indexed_until`: the
        Mirror Node's horizon the claims were read at."""

        leaf_indices: list[int]
        transaction_ids: list[str]
        amount: int
        indexed_until: float

    class HtsAirdropCancelled(Aggregate.Event):
        """After the claim deadline, a TokenCancelAirdrop (`transaction_id`) ended these
        leaves' pending airdrops: never paid; the tokens stayed with the payer. The
        transaction is this batch's, or another's whose airdrop to the same holder the
        network had merged with these (domain/hts_pending.py)."""

        transaction_id: str
        leaf_indices: list[int]
        amount: int

    @staticmethod
    def create_id(distribution_id: UUID, number: int) -> UUID:
        return ids.batch_id(distribution_id, number)

    @classmethod
    def plan(cls, *, distribution_id: UUID, number: int, first_leaf: int,
             holders: list[Entitlement], range_proof: list[bytes], gas_limit: int) -> PayoutBatch:
        leaves = [h for h in holders if h.leaf_index is not None]
        expected = list(range(first_leaf, first_leaf + len(leaves)))
        if [h.leaf_index for h in leaves] != expected:
            raise InvalidInput(
                f"batch {number} leaves are not the contiguous range from {first_leaf}"
            )
        batch = cls(distribution_id=distribution_id, number=number, first_leaf=first_leaf,
                    leaf_count=len(leaves), total_net=sum(h.net for h in leaves),
                    range_proof=["0x" + p.hex() for p in range_proof], gas_limit=gas_limit)
        batch._holders_entitled(holders=[
            [h.position, h.account, h.balance, h.gross, h.withheld, h.net, h.leaf_index,
             h.skip_reason.value if h.skip_reason else None] for h in holders])
        return batch

    @event(Planned)
    def __init__(self, distribution_id: UUID, number: int, first_leaf: int, leaf_count: int,
                 total_net: int, range_proof: list[str], gas_limit: int) -> None:
        self.distribution_id = distribution_id
        self.number = number
        self.first_leaf = first_leaf
        self.leaf_count = leaf_count
        self.total_net = total_net
        self.range_proof = range_proof
        self.gas_limit = gas_limit
        self.status = BatchStatus.PLANNED if leaf_count else BatchStatus.SETTLED
        self.holders: list[Entitlement] = []
        self.leaves: dict[int, Entitlement] = {}
        self.outcomes: dict[int, LeafOutcome] = {}
        self.failure_reasons: dict[int, str] = {}
        self.attempts = 0
        self.last_signed_at: datetime | None = None
        self.rejection: str | None = None
        self.tx_hashes: list[str] = []
        self.submitted_leaves: dict[str, list[int]] = {}
        self.settled_txs: list[str] = []
        self.amount_paid = 0
        self.gas_used = 0
        self.transient_failures = 0  # consecutive, since the last submission or retry
        self.retry_at: datetime | None = None
        self.retries = 0  # operator (or funds) retries: a new generation of job ids each
        # HTS: TransactionIds that may still execute -> (valid start ns, seconds, kind)
        self.hts_open: dict[str, tuple[int, int, str]] = {}
        self.hts_one_by_one = False  # after an atomic failure: one holder per transaction
        self.hts_last_status: dict[int, str] = {}  # leaf -> its own last failed HTS status
        # leaf -> the airdrop that left it pending (its TransactionId)
        self.hts_pending: dict[int, str] = {}

    @event(HoldersEntitled)
    def _holders_entitled(self, holders: list[list[Any]]) -> None:
        for position, account, balance, gross, withheld, net, leaf, skip in holders:
            self._entitle(Entitlement(position, account, balance, gross, withheld, net, leaf,
                                      SkipReason(skip) if skip else None))

    @event(HolderEntitled)
    def _holder_entitled(self, position: int, account: str, balance: int, gross: int,
                         withheld: int, net: int, leaf_index: int | None,
                         skip_reason: str | None) -> None:
        self._entitle(Entitlement(position, account, balance, gross, withheld, net, leaf_index,
                                  SkipReason(skip_reason) if skip_reason else None))

    def _entitle(self, record: Entitlement) -> None:
        self.holders.append(record)
        if record.leaf_index is not None:
            self.leaves[record.leaf_index] = record

    def __deepcopy__(self, memo: dict[int, Any]) -> PayoutBatch:
        """The repository hands out a deep copy of its cached batch on every load. The
        entitlements are frozen records that never change once planned: the copy gets new
        containers holding the same records instead of ~420 copied dataclasses (which was
        most of a worker's CPU). Everything else is copied deeply as usual."""
        copied = object.__new__(type(self))
        memo[id(self)] = copied
        for name, value in self.__dict__.items():
            # Shared records: a new list / dict of the same frozen Entitlements.
            copied.__dict__[name] = copy.copy(value) if name in SHARED_RECORDS \
                else copy.deepcopy(value, memo)
        return copied

    @property
    def leaf_range(self) -> range:
        return range(self.first_leaf, self.first_leaf + self.leaf_count)

    def unsettled_leaves(self) -> list[int]:
        return [i for i in self.leaf_range if self.outcomes.get(i) not in PAID_OUTCOMES]

    def failed_leaves(self) -> list[int]:
        return [i for i in self.leaf_range if self.outcomes.get(i) is LeafOutcome.FAILED]

    def undecided_leaves(self) -> list[int]:
        """Leaves no transaction has reached yet: what a worker sends on a first attempt."""
        return [i for i in self.leaf_range if i not in self.outcomes]

    # --- execution facts ---

    def record_submission(self, *, tx_hash: str, nonce: int, leaf_indices: list[int],
                          signed_at: datetime) -> None:
        """Recorded *before* broadcast: a crash after it leaves a hash to re-check, not a guess."""
        if self.status is BatchStatus.SETTLED and not self.unsettled_leaves():
            raise IllegalTransition(f"batch {self.number} is settled; nothing to submit")
        unknown = [i for i in leaf_indices if i not in self.leaf_range]
        if not leaf_indices or unknown:
            raise InvalidInput(f"submission must name leaves of batch {self.number}")
        paid = [i for i in leaf_indices if self.outcomes.get(i) in PAID_OUTCOMES]
        if paid:
            raise IllegalTransition(f"leaves {paid[:5]} of batch {self.number} are already paid")
        self._submitted(tx_hash=tx_hash, nonce=nonce, attempt=self.attempts + 1,
                        leaf_indices=leaf_indices, signed_at=utc(signed_at, "signed at"))

    @event(Submitted)
    def _submitted(self, tx_hash: str, nonce: int, attempt: int, leaf_indices: list[int],
                   signed_at: datetime) -> None:
        self.attempts = attempt
        self.last_signed_at = signed_at
        self.rejection = None
        self.transient_failures = 0
        self.retry_at = None
        self.tx_hashes.append(tx_hash)
        self.submitted_leaves[tx_hash] = leaf_indices
        self.status = BatchStatus.SUBMITTED

    def record_hts_submission(self, *, transaction_id: str, valid_start_ns: int,
                              valid_seconds: int, kind: str, leaf_indices: list[int]) -> None:
        """Recorded *before* submitting. Exactly once rests on this guard: while a recorded
        TransactionId may still execute, no other one is recorded for this batch (its fate is
        found first: settled, or proven dead)."""
        if self.hts_open:
            raise IllegalTransition(f"batch {self.number}: {next(iter(self.hts_open))} may"
                                    " still execute; find its fate first")
        if transaction_id in self.submitted_leaves:
            raise IllegalTransition(f"{transaction_id} was already used by batch {self.number}")
        if kind not in HTS_KINDS:
            raise InvalidInput(f"an HTS submission is one of {HTS_KINDS}, not {kind!r}")
        if kind == "cancel":
            not_pending = [i for i in leaf_indices if i not in self.hts_pending]
            if not leaf_indices or not_pending:
                raise IllegalTransition(f"leaves {not_pending[:5]} of batch {self.number} have"
                                        " no pending airdrop to cancel")
        else:
            self._check_submittable(leaf_indices)
        self._hts_submitted(transaction_id=transaction_id, valid_start_ns=valid_start_ns,
                            valid_seconds=valid_seconds, kind=kind, attempt=self.attempts + 1,
                            leaf_indices=leaf_indices)

    def _check_submittable(self, leaf_indices: list[int]) -> None:
        if self.status is BatchStatus.SETTLED and not self.unsettled_leaves():
            raise IllegalTransition(f"batch {self.number} is settled; nothing to submit")
        unknown = [i for i in leaf_indices if i not in self.leaf_range]
        if not leaf_indices or unknown:
            raise InvalidInput(f"submission must name leaves of batch {self.number}")
        decided = [i for i in leaf_indices if i in self.outcomes]
        if decided:
            raise IllegalTransition(f"leaves {decided[:5]} of batch {self.number} already have"
                                    " an outcome")

    @event(HtsSubmitted)
    def _hts_submitted(self, transaction_id: str, valid_start_ns: int, valid_seconds: int,
                       kind: str, attempt: int, leaf_indices: list[int]) -> None:
        self.attempts = attempt
        self.rejection = None
        self.transient_failures = 0
        self.retry_at = None
        self.tx_hashes.append(transaction_id)
        self.submitted_leaves[transaction_id] = leaf_indices
        self.hts_open[transaction_id] = (valid_start_ns, valid_seconds, kind)
        if kind != "cancel":  # a cancellation pays nobody: the batch's payments are done
            self.status = BatchStatus.SUBMITTED

    def record_hts_dead(self, *, transaction_id: str) -> None:
        if transaction_id not in self.hts_open:
            raise IllegalTransition(f"{transaction_id} is not an open HTS transaction of"
                                    f" batch {self.number}")
        self._hts_transaction_dead(transaction_id=transaction_id)

    @event(HtsTransactionDead)
    def _hts_transaction_dead(self, transaction_id: str) -> None:
        del self.hts_open[transaction_id]
        if self.status is not BatchStatus.BLOCKED and any(
                i not in self.outcomes for i in self.submitted_leaves[transaction_id]):
            self.status = BatchStatus.PLANNED  # a blocked batch stays blocked for its operator

    def record_hts_failed(self, *, transaction_id: str, status: str) -> None:
        if transaction_id not in self.hts_open:
            raise IllegalTransition(f"{transaction_id} is not an open HTS transaction of"
                                    f" batch {self.number}")
        self._hts_transaction_failed(transaction_id=transaction_id, status=status[:200])

    @event(HtsTransactionFailed)
    def _hts_transaction_failed(self, transaction_id: str, status: str) -> None:
        del self.hts_open[transaction_id]
        leaves = self.submitted_leaves[transaction_id]
        if any(i in self.hts_pending for i in leaves):
            return  # a cancellation that failed: the leaves stay pending, nothing else changes
        if len(leaves) == 1:  # only then is the status this holder's own
            self.hts_last_status[leaves[0]] = status
        self.hts_one_by_one = True
        if self.status is not BatchStatus.BLOCKED:
            self.status = BatchStatus.PLANNED

    def reject_submission(self, *, tx_hash: str, reason: str) -> None:
        if tx_hash not in self.submitted_leaves:
            raise InvalidInput(f"{tx_hash} is not a submission of batch {self.number}")
        if tx_hash in self.settled_txs:
            raise IllegalTransition(f"{tx_hash} settled on-chain; it was not rejected")
        self._submission_rejected(tx_hash=tx_hash, reason=reason[:500])

    @event(SubmissionRejected)
    def _submission_rejected(self, tx_hash: str, reason: str) -> None:
        self.rejection = reason
        self.status = BatchStatus.BLOCKED

    def record_attempt_failure(self, *, reason: str, retry_at: datetime | None) -> None:
        """A transient fault stopped an attempt; `retry_at` None means give up (BLOCKED)."""
        if self.status is BatchStatus.BLOCKED or not self.undecided_leaves():
            raise IllegalTransition(f"batch {self.number} has no attempt to fail")
        self._attempt_failed(attempt=self.transient_failures + 1, reason=reason[:500],
                             retry_at=utc(retry_at, "retry at") if retry_at else None)

    @event(AttemptFailed)
    def _attempt_failed(self, attempt: int, reason: str, retry_at: datetime | None) -> None:
        self.transient_failures = attempt
        self.retry_at = retry_at
        if retry_at is None:
            self.rejection = f"gave up after {attempt} attempts: {reason}"
            self.status = BatchStatus.BLOCKED

    def request_retry(self, *, leaf_indices: list[int], actor: str) -> None:
        """Send failed `leaf_indices` again and, if the batch is blocked, unblock it."""
        not_failed = [i for i in leaf_indices if self.outcomes.get(i) is not LeafOutcome.FAILED]
        if not_failed:
            raise IllegalTransition(f"leaves {not_failed[:5]} of batch {self.number} have not"
                                    " failed")
        blocked = self.status is BatchStatus.BLOCKED
        if not leaf_indices and not blocked:
            raise IllegalTransition(f"batch {self.number} has nothing to retry")
        self._retry_requested(leaf_indices=sorted(leaf_indices), unblocked=blocked, actor=actor)

    @event(RetryRequested)
    def _retry_requested(self, leaf_indices: list[int], unblocked: bool, actor: str) -> None:
        for i in leaf_indices:
            del self.outcomes[i]  # undecided again; the LeafFailed event stays in history
        self.retries += 1
        self.transient_failures = 0
        self.retry_at = None
        if unblocked:
            self.rejection = None
        if unblocked or leaf_indices:
            self.status = BatchStatus.PLANNED

    def _leaf(self, leaf_index: int) -> Entitlement:
        try:
            return self.leaves[leaf_index]
        except KeyError:
            raise InvalidInput(f"leaf {leaf_index} is not in batch {self.number}") from None

    def record_paid(self, *, leaf_index: int, amount: int, tx_hash: str) -> None:
        """One leaf paid `amount`, which must be its entitlement."""
        leaf = self._leaf(leaf_index)
        if amount != leaf.net:
            raise IllegalTransition(f"leaf {leaf_index} paid {amount}, entitled to {leaf.net}")
        self.record_paid_leaves(leaf_indices=[leaf_index], tx_hash=tx_hash)

    def record_paid_leaves(self, *, leaf_indices: list[int], tx_hash: str) -> None:
        """The leaves one transaction paid. The vault pays exactly each committed leaf's net
        (its Paid log carries no amount), so the amount is the sum of their entitlements.
        All or nothing: one leaf that is not this batch's, or already paid, refuses them all
        (the ingestor applies the rest on their own)."""
        if not leaf_indices or len(set(leaf_indices)) != len(leaf_indices):
            raise InvalidInput(f"paid leaves of batch {self.number} must be distinct, not none")
        amount = 0
        for i in leaf_indices:
            amount += self._leaf(i).net
            if self.outcomes.get(i) in PAID_OUTCOMES:
                raise IllegalTransition(f"leaf {i} is already recorded as paid")
        self._leaves_paid(leaf_indices=sorted(leaf_indices), amount=amount, tx_hash=tx_hash)

    @event(LeavesPaid)
    def _leaves_paid(self, leaf_indices: list[int], amount: int, tx_hash: str) -> None:
        for i in leaf_indices:
            self.outcomes[i] = LeafOutcome.PAID
            self.failure_reasons.pop(i, None)
        self.amount_paid += amount

    @event(LeafPaid)
    def _leaf_paid(self, leaf_index: int, amount: int, tx_hash: str) -> None:
        self.outcomes[leaf_index] = LeafOutcome.PAID
        self.failure_reasons.pop(leaf_index, None)
        self.amount_paid += amount

    def record_failed(self, *, leaf_index: int, reason: str, tx_hash: str) -> None:
        self._leaf(leaf_index)
        if self.outcomes.get(leaf_index) in PAID_OUTCOMES:
            raise IllegalTransition(f"leaf {leaf_index} was paid; it cannot fail afterwards")
        self._leaf_failed(leaf_index=leaf_index, reason=reason, tx_hash=tx_hash)

    @event(LeafFailed)
    def _leaf_failed(self, leaf_index: int, reason: str, tx_hash: str) -> None:
        self.outcomes[leaf_index] = LeafOutcome.FAILED
        self.failure_reasons[leaf_index] = reason

    def record_claimed(self, *, leaf_index: int, amount: int, tx_hash: str) -> None:
        leaf = self._leaf(leaf_index)
        if self.outcomes.get(leaf_index) in PAID_OUTCOMES:
            raise IllegalTransition(f"leaf {leaf_index} is already recorded as paid")
        if amount != leaf.net:
            raise IllegalTransition(f"leaf {leaf_index} claimed {amount}, entitled to {leaf.net}")
        self._leaf_claimed(leaf_index=leaf_index, amount=amount, tx_hash=tx_hash)

    @event(LeafClaimed)
    def _leaf_claimed(self, leaf_index: int, amount: int, tx_hash: str) -> None:
        self.outcomes[leaf_index] = LeafOutcome.CLAIMED
        self.failure_reasons.pop(leaf_index, None)
        self.amount_paid += amount

    def settle(self, *, tx_hash: str, covered: list[int], already_paid: int,
               gas_used: int) -> None:
        """Close one transaction once every leaf it covered has a final on-chain outcome.

        A batch can settle more than once: a retry of failed leaves, or a resubmission that
        found everything already paid, is its own transaction with its own settlement.
        """
        undecided = [i for i in covered if i not in self.outcomes]
        if undecided:
            raise IllegalTransition(
                f"leaves {undecided[:5]} of batch {self.number} have no outcome"
            )
        paid = sum(1 for i in covered if self.outcomes[i] in PAID_OUTCOMES)
        failed = sum(1 for i in covered if self.outcomes[i] in UNPAID_OUTCOMES)
        self._settled(tx_hash=tx_hash, paid=paid, failed=failed,
                      already_paid=already_paid, amount_paid=self.amount_paid, gas_used=gas_used)

    @event(Settled)
    def _settled(self, tx_hash: str, paid: int, failed: int, already_paid: int,
                 amount_paid: int, gas_used: int) -> None:
        self.gas_used += gas_used
        self.settled_txs.append(tx_hash)
        self.hts_open.pop(tx_hash, None)  # an HTS transaction's fate is now recorded
        self.status = BatchStatus.SETTLED

    # --- HTS pending airdrops (HIP-904) ---

    @property
    def pending_claim_amount(self) -> int:
        return sum(self.leaves[i].net for i in self.hts_pending)

    def _open_kind(self, transaction_id: str, kind: str) -> list[int]:
        opened = self.hts_open.get(transaction_id)
        if opened is None or opened[2] != kind:
            raise IllegalTransition(f"{transaction_id} is not an open HTS {kind} of batch"
                                    f" {self.number}")
        return self.submitted_leaves[transaction_id]

    def record_airdrop_pending(self, *, transaction_id: str, leaf_indices: list[int]) -> None:
        """Before the airdrop's settlement: which of its leaves went pending (the others
        were paid by it)."""
        submitted = self._open_kind(transaction_id, "airdrop")
        stray = [i for i in leaf_indices if i not in submitted or i in self.outcomes]
        if not leaf_indices or stray or len(set(leaf_indices)) != len(leaf_indices):
            raise IllegalTransition(f"leaves {stray[:5]} of batch {self.number} cannot be"
                                    f" pending from {transaction_id}")
        self._hts_airdrop_pending(transaction_id=transaction_id,
                                  leaf_indices=sorted(leaf_indices),
                                  amount=sum(self.leaves[i].net for i in leaf_indices))

    @event(HtsAirdropPending)
    def _hts_airdrop_pending(self, transaction_id: str, leaf_indices: list[int],
                             amount: int) -> None:
        for i in leaf_indices:
            self.outcomes[i] = LeafOutcome.PENDING_CLAIM
            self.hts_pending[i] = transaction_id

    def record_airdrop_claimed(self, *, leaf_indices: list[int], indexed_until: float) -> None:
        not_pending = [i for i in leaf_indices if i not in self.hts_pending]
        if not leaf_indices or not_pending or len(set(leaf_indices)) != len(leaf_indices):
            raise IllegalTransition(f"leaves {not_pending[:5]} of batch {self.number} have no"
                                    " pending airdrop to claim")
        cancelling = [i for kind_leaves in (
            self.submitted_leaves[t] for t, (_s, _v, kind) in self.hts_open.items()
            if kind == "cancel") for i in kind_leaves if i in leaf_indices]
        if cancelling:
            raise IllegalTransition(f"leaves {cancelling[:5]} of batch {self.number} have a"
                                    " cancellation in flight; its fate decides them")
        leaves = sorted(leaf_indices)
        self._hts_airdrop_claimed(leaf_indices=leaves,
                                  transaction_ids=[self.hts_pending[i] for i in leaves],
                                  amount=sum(self.leaves[i].net for i in leaves),
                                  indexed_until=indexed_until)

    @event(HtsAirdropClaimed)
    def _hts_airdrop_claimed(self, leaf_indices: list[int], transaction_ids: list[str],
                             amount: int, indexed_until: float) -> None:
        for i in leaf_indices:
            del self.hts_pending[i]
            self.outcomes[i] = LeafOutcome.PAID
        self.amount_paid += amount

    def record_airdrop_cancelled(self, *, transaction_id: str) -> None:
        leaves = self._open_kind(transaction_id, "cancel")
        self._hts_airdrop_cancelled(transaction_id=transaction_id, leaf_indices=list(leaves),
                                    amount=sum(self.leaves[i].net for i in leaves))

    def record_airdrop_cancelled_with(self, *, transaction_id: str,
                                      leaf_indices: list[int]) -> None:
        """Another batch's TokenCancelAirdrop (`transaction_id`) ended these leaves' pending
        airdrops: merged with its own on the network (domain/hts_pending.py), they could
        only be cancelled together, once every claim deadline had passed."""
        not_pending = [i for i in leaf_indices if i not in self.hts_pending]
        if not leaf_indices or not_pending or transaction_id in self.hts_open:
            raise IllegalTransition(f"leaves {not_pending[:5]} of batch {self.number} have no"
                                    f" pending airdrop {transaction_id} could have ended")
        leaves = sorted(leaf_indices)
        self._hts_airdrop_cancelled(transaction_id=transaction_id, leaf_indices=leaves,
                                    amount=sum(self.leaves[i].net for i in leaves))

    @event(HtsAirdropCancelled)
    def _hts_airdrop_cancelled(self, transaction_id: str, leaf_indices: list[int],
                               amount: int) -> None:
        self.hts_open.pop(transaction_id, None)  # absent: another batch's (merged) cancel
        for i in leaf_indices:
            del self.hts_pending[i]
            self.outcomes[i] = LeafOutcome.CANCELLED
            self.failure_reasons[i] = "AIRDROP_CANCELLED_AFTER_CLAIM_DEADLINE"
