"""Distribution: one payout's terms, approval, commitment and lifecycle.

It holds terms, totals and lifecycle only. Per-holder data lives in PayoutBatch streams, so a
100k-holder distribution loads in a handful of events and workers settling batches never
contend on this aggregate's version.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain import ids
from domain.actors import same_principal
from domain.entitlements import Totals
from domain.errors import IllegalTransition, InvalidInput, MakerCheckerViolation, NotFound
from domain.rails import Rail
from domain.terms import DistributionTerms
from domain.treasury import (
    OPEN_STATES,
    SweepDestination,
    TreasuryKind,
    TreasuryOp,
    TreasuryState,
)
from domain.values import utc


class Status(StrEnum):
    CREATED = "CREATED"
    APPROVED = "APPROVED"
    SNAPSHOTTED = "SNAPSHOTTED"
    COMMITTED = "COMMITTED"
    EXECUTING = "EXECUTING"
    WAITING_FOR_FUNDS = "WAITING_FOR_FUNDS"
    COMPLETED = "COMPLETED"
    COMPLETED_WITH_FAILURES = "COMPLETED_WITH_FAILURES"
    CANCELLED = "CANCELLED"
    EXPIRED = "EXPIRED"


TERMINAL = frozenset({Status.COMPLETED, Status.CANCELLED, Status.EXPIRED})

# Every legal move. Anything else is refused before an event is recorded.
TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.CREATED: frozenset({Status.APPROVED, Status.CANCELLED}),
    Status.APPROVED: frozenset({Status.SNAPSHOTTED, Status.CANCELLED}),
    Status.SNAPSHOTTED: frozenset({Status.COMMITTED, Status.CANCELLED}),
    Status.COMMITTED: frozenset({Status.EXECUTING, Status.WAITING_FOR_FUNDS, Status.CANCELLED,
                                 Status.EXPIRED}),
    Status.EXECUTING: frozenset({Status.WAITING_FOR_FUNDS, Status.COMPLETED,
                                 Status.COMPLETED_WITH_FAILURES, Status.EXPIRED}),
    Status.WAITING_FOR_FUNDS: frozenset({Status.EXECUTING, Status.EXPIRED}),
    # Failed holders can be retried (back to EXECUTING) or claim until the deadline.
    Status.COMPLETED_WITH_FAILURES: frozenset({Status.EXECUTING, Status.COMPLETED,
                                               Status.EXPIRED}),
    Status.COMPLETED: frozenset(),
    Status.CANCELLED: frozenset(),
    Status.EXPIRED: frozenset(),
}


@dataclass(frozen=True, slots=True)
class Commitment:
    """An HTS distribution's root on an HCS topic (domain/hts_commitment.py's message)."""

    topic_id: str
    sequence_number: int
    transaction_id: str


class Distribution(Aggregate):
    class Created(Aggregate.Created):
        asset_id: UUID
        idempotency_key: str
        terms: DistributionTerms
        asset_decimals: int
        payment_decimals: int
        actor: str

    class Approved(Aggregate.Event):
        actor: str

    class Snapshotted(Aggregate.Event):
        snapshot_ref: str
        vault_balance: int | None
        holders: int
        eligible: int
        skipped: int
        eligible_balance: int
        gross: int
        net: int
        withheld: int
        dust: int
        skipped_amount: int
        merkle_root: str
        batch_first_leaves: list[int]

    class Committed(Aggregate.Event):
        tx_hash: str
        claim_deadline: datetime
        actor: str

    class ExecutionStarted(Aggregate.Event):
        actor: str

    class FundsAwaited(Aggregate.Event):
        needed: int
        available: int

    class ProgressRecorded(Aggregate.Event):
        """Counters after the chain facts of one ingested range (only the ingestor writes)."""

        paid: int
        failed: int
        amount_paid: int

    class Completed(Aggregate.Event):
        paid: int
        failed: int
        amount_paid: int

    class Cancelled(Aggregate.Event):
        actor: str
        reason: str

    class Expired(Aggregate.Event):
        unpaid: int

    class RetryRequested(Aggregate.Event):
        """Failed leaves (and batches an operator unblocked) go back to be paid again."""

        actor: str
        leaves: int
        unblocked_batches: int
        reason: str

    class FundsArrived(Aggregate.Event):
        """The vault now holds what the distribution still needs: execution resumes."""

        available: int
        needed: int

    class RailChosen(Aggregate.Event):
        """Paid by another rail than the vault (domain.rails); recorded with `Created`."""

        rail: str
        actor: str

    class CommitmentSubmitted(Aggregate.Event):
        """An HTS distribution's commitment message to an HCS topic, its TransactionId
        recorded *before* it is sent (exactly once, as a payment's)."""

        transaction_id: str
        topic_id: str
        valid_start_ns: int
        valid_seconds: int

    class CommitmentAbandoned(Aggregate.Event):
        """The recorded TransactionId will never publish: it provably never executed
        (`reason` DEAD), or it executed and failed with the status `reason`. Another one may
        be recorded."""

        transaction_id: str
        reason: str

    class CommitmentPublished(Aggregate.Event):
        """The HCS topic holds the commitment at this sequence number (an auditor reads it
        there: `/api/v1/topics/{topic}/messages/{sequence}` on a Mirror Node)."""

        transaction_id: str
        topic_id: str
        sequence_number: int

    @staticmethod
    def create_id(asset_id: UUID, idempotency_key: str) -> UUID:
        return ids.distribution_id(asset_id, idempotency_key)

    @classmethod
    def create(cls, *, asset_id: UUID, idempotency_key: str, terms: DistributionTerms,
               asset_decimals: int, payment_decimals: int, actor: str) -> Distribution:
        if not idempotency_key or len(idempotency_key) > 200:
            raise InvalidInput("an idempotency key of 1..200 characters is required")
        if not actor:
            raise InvalidInput("every command names its actor")
        return cls(asset_id=asset_id, idempotency_key=idempotency_key, terms=terms,
                   asset_decimals=asset_decimals, payment_decimals=payment_decimals,
                   actor=actor)

    @classmethod
    def create_with_id(cls, distribution_id: UUID, *, asset_id: UUID, idempotency_key: str,
                       terms: DistributionTerms, asset_decimals: int, payment_decimals: int,
                       actor: str) -> Distribution:
        """A distribution whose id its creator derives (a schedule's occurrence n)."""
        if not idempotency_key or len(idempotency_key) > 200:
            raise InvalidInput("an idempotency key of 1..200 characters is required")
        if not actor:
            raise InvalidInput("every command names its actor")
        return cls._create(cls.Created, id=distribution_id, asset_id=asset_id,
                           idempotency_key=idempotency_key, terms=terms,
                           asset_decimals=asset_decimals, payment_decimals=payment_decimals,
                           actor=actor)

    @event(Created)
    def __init__(self, asset_id: UUID, idempotency_key: str, terms: DistributionTerms,
                 asset_decimals: int, payment_decimals: int, actor: str) -> None:
        self.asset_id = asset_id
        self.idempotency_key = idempotency_key
        self.terms = terms
        self.asset_decimals = asset_decimals
        self.payment_decimals = payment_decimals
        self.created_by = actor
        self.status = Status.CREATED
        self.approved_by: str | None = None
        self.totals: Totals | None = None
        self.merkle_root: str | None = None
        self.batch_count = 0
        self.batch_first_leaves: list[int] = []
        self.paid = self.failed = self.amount_paid = 0
        self.snapshot_ref: str | None = None
        self.commit_tx: str | None = None
        self.claim_deadline: datetime | None = None

    def batch_of_leaf(self, leaf_index: int) -> int:
        """The number of the batch holding a leaf (batches are contiguous leaf ranges)."""
        if self.totals is None or not 0 <= leaf_index < self.totals.eligible:
            raise InvalidInput(f"leaf {leaf_index} is not in distribution {self.id}")
        # The last batch whose first leaf is <= leaf_index. Batches holding only skipped
        # holders share their successor's first leaf; bisect_right skips past them.
        return bisect.bisect_right(self.batch_first_leaves, leaf_index) - 1

    # --- the rail (domain.rails): streams recorded before rails existed pay by the vault ---

    @property
    def rail(self) -> Rail:
        return Rail(self.__dict__.get("_rail", Rail.VAULT))

    @property
    def commitment_open(self) -> dict[str, tuple[int, int, str]]:
        """An HTS commitment's TransactionId that may still execute: (valid start ns, valid
        seconds, topic id)."""
        found: dict[str, tuple[int, int, str]] = self.__dict__.setdefault(
            "_commitment_open", {})
        return found

    @property
    def commitment(self) -> Commitment | None:
        """Where an HTS distribution's commitment was published, once it was."""
        found: Commitment | None = self.__dict__.get("_commitment")
        return found

    def choose_rail(self, rail: Rail, actor: str) -> None:
        if self.status is not Status.CREATED or "_rail" in self.__dict__:
            raise IllegalTransition(f"distribution {self.id}: the rail is chosen at creation")
        if rail is not Rail.VAULT:
            self._rail_chosen(rail=rail.value, actor=actor)

    @event(RailChosen)
    def _rail_chosen(self, rail: str, actor: str) -> None:
        self.__dict__["_rail"] = rail

    def _require_hts_commitment(self) -> None:
        if self.rail is not Rail.HTS:
            raise IllegalTransition(f"distribution {self.id} pays by the {self.rail} rail: its"
                                    " root is committed on the vault, not to an HCS topic")
        self.require_transition(Status.COMMITTED)

    def record_commitment_submission(self, *, transaction_id: str, topic_id: str,
                                     valid_start_ns: int, valid_seconds: int) -> None:
        self._require_hts_commitment()
        if self.commitment_open:
            raise IllegalTransition(f"distribution {self.id}: commitment"
                                    f" {next(iter(self.commitment_open))} may still execute;"
                                    " find its fate first")
        if not transaction_id or not topic_id or valid_start_ns <= 0 or valid_seconds <= 0:
            raise InvalidInput("a commitment submission names its TransactionId, topic and"
                               " validity window")
        self._commitment_submitted(transaction_id=transaction_id, topic_id=topic_id,
                                   valid_start_ns=valid_start_ns, valid_seconds=valid_seconds)

    @event(CommitmentSubmitted)
    def _commitment_submitted(self, transaction_id: str, topic_id: str, valid_start_ns: int,
                              valid_seconds: int) -> None:
        self.__dict__["_commitment_open"] = {
            transaction_id: (valid_start_ns, valid_seconds, topic_id)}

    def _require_open(self, transaction_id: str) -> None:
        if transaction_id not in self.commitment_open:
            raise IllegalTransition(f"{transaction_id} is not the open commitment of"
                                    f" distribution {self.id}")

    def abandon_commitment(self, *, transaction_id: str, reason: str) -> None:
        self._require_open(transaction_id)
        self._commitment_abandoned(transaction_id=transaction_id, reason=_printable(reason))

    @event(CommitmentAbandoned)
    def _commitment_abandoned(self, transaction_id: str, reason: str) -> None:
        self.__dict__["_commitment_open"] = {}

    def publish_commitment(self, *, transaction_id: str, sequence_number: int,
                           claim_deadline: datetime, actor: str) -> None:
        """The open commitment reached consensus (SUCCESS): it is this distribution's commit,
        as the vault's `announce` is a vault distribution's."""
        self._require_hts_commitment()
        self._require_open(transaction_id)
        if type(sequence_number) is not int or sequence_number <= 0:
            raise InvalidInput("an HCS sequence number is a positive integer")
        topic_id = self.commitment_open[transaction_id][2]
        deadline = utc(claim_deadline, "claim deadline")
        if deadline <= self.terms.record_date:
            raise InvalidInput("the claim deadline must come after the record date")
        self._commitment_published(transaction_id=transaction_id, topic_id=topic_id,
                                   sequence_number=sequence_number)
        self._committed(tx_hash=transaction_id, claim_deadline=deadline, actor=actor)

    @event(CommitmentPublished)
    def _commitment_published(self, transaction_id: str, topic_id: str,
                              sequence_number: int) -> None:
        self.__dict__["_commitment_open"] = {}
        self.__dict__["_commitment"] = Commitment(topic_id, sequence_number, transaction_id)

    def require_transition(self, target: Status) -> None:
        if target not in TRANSITIONS[self.status]:
            raise IllegalTransition(f"distribution {self.id} is {self.status}; cannot go {target}")

    # --- commands (decide) and their evolve methods (record) ---

    def approve(self, actor: str) -> None:
        self.require_transition(Status.APPROVED)
        if same_principal(actor, self.created_by):  # two keys, one person: refused
            raise MakerCheckerViolation(f"{actor} created this distribution; another must approve")
        self._approved(actor=actor)

    @event(Approved)
    def _approved(self, actor: str) -> None:
        self.approved_by = actor
        self.status = Status.APPROVED

    def record_snapshot(self, *, snapshot_ref: str, vault_balance: int | None, totals: Totals,
                        merkle_root: bytes, batch_first_leaves: list[int]) -> None:
        self.require_transition(Status.SNAPSHOTTED)
        if batch_first_leaves != sorted(batch_first_leaves):
            raise InvalidInput("batch boundaries must ascend")
        self._snapshotted(
            snapshot_ref=snapshot_ref, vault_balance=vault_balance, holders=totals.holders,
            eligible=totals.eligible, skipped=totals.skipped,
            eligible_balance=totals.eligible_balance, gross=totals.gross, net=totals.net,
            withheld=totals.withheld, dust=totals.dust, skipped_amount=totals.skipped_amount,
            merkle_root="0x" + merkle_root.hex(), batch_first_leaves=batch_first_leaves,
        )

    @event(Snapshotted)
    def _snapshotted(self, snapshot_ref: str, vault_balance: int | None, holders: int,
                     eligible: int, skipped: int, eligible_balance: int, gross: int, net: int,
                     withheld: int, dust: int, skipped_amount: int, merkle_root: str,
                     batch_first_leaves: list[int]) -> None:
        self.snapshot_ref = snapshot_ref
        self.totals = Totals(holders, eligible, skipped, eligible_balance, gross, net, withheld,
                             dust, skipped_amount)
        self.merkle_root = merkle_root
        self.batch_first_leaves = batch_first_leaves
        self.batch_count = len(batch_first_leaves)
        self.status = Status.SNAPSHOTTED

    def commit(self, *, tx_hash: str, claim_deadline: datetime, actor: str) -> None:
        self.require_transition(Status.COMMITTED)
        if self.rail is Rail.HTS:
            raise IllegalTransition(f"distribution {self.id} pays by the HTS rail: it commits"
                                    " by publishing its root to an HCS topic")
        deadline = utc(claim_deadline, "claim deadline")
        if deadline <= self.terms.record_date:
            raise InvalidInput("the claim deadline must come after the record date")
        self._committed(tx_hash=tx_hash, claim_deadline=deadline, actor=actor)

    @event(Committed)
    def _committed(self, tx_hash: str, claim_deadline: datetime, actor: str) -> None:
        self.commit_tx = tx_hash
        self.claim_deadline = claim_deadline
        self.status = Status.COMMITTED

    def start_execution(self, actor: str) -> None:
        self.require_transition(Status.EXECUTING)
        self._execution_started(actor=actor)

    @event(ExecutionStarted)
    def _execution_started(self, actor: str) -> None:
        self.status = Status.EXECUTING

    def await_funds(self, needed: int, available: int) -> None:
        self.require_transition(Status.WAITING_FOR_FUNDS)
        if available >= needed:
            raise InvalidInput(f"{available} available covers {needed} needed: nothing to await")
        self._funds_awaited(needed=needed, available=available)

    @event(FundsAwaited)
    def _funds_awaited(self, needed: int, available: int) -> None:
        self.status = Status.WAITING_FOR_FUNDS

    def resume_with_funds(self, *, available: int, needed: int) -> None:
        if self.status is not Status.WAITING_FOR_FUNDS:
            raise IllegalTransition(f"distribution {self.id} is {self.status}, not waiting for"
                                    " funds")
        if available < needed:
            raise InvalidInput(f"{available} available does not cover {needed} needed")
        self._funds_arrived(available=available, needed=needed)

    @event(FundsArrived)
    def _funds_arrived(self, available: int, needed: int) -> None:
        self.status = Status.EXECUTING

    def request_retry(self, *, actor: str, leaves: int, unblocked_batches: int,
                      reason: str) -> None:
        """Failed leaves are paid again (their failure stays in the batch's history)."""
        if self.status not in {Status.EXECUTING, Status.COMPLETED_WITH_FAILURES}:
            raise IllegalTransition(f"distribution {self.id} is {self.status}; only an executing"
                                    " or partly failed distribution can be retried")
        if not actor:
            raise InvalidInput("every command names its actor")
        if leaves < 0 or unblocked_batches < 0 or leaves > self.failed:
            raise InvalidInput(f"cannot retry {leaves} of {self.failed} failed leaves")
        if leaves == 0 and unblocked_batches == 0:
            raise IllegalTransition(f"distribution {self.id} has nothing to retry")
        self._retry_requested(actor=actor, leaves=leaves, unblocked_batches=unblocked_batches,
                              reason=reason[:500])

    @event(RetryRequested)
    def _retry_requested(self, actor: str, leaves: int, unblocked_batches: int,
                         reason: str) -> None:
        self.failed -= leaves
        self.status = Status.EXECUTING

    def record_progress(self, *, paid: int, failed: int, amount_paid: int) -> None:
        if self.totals is None:
            raise IllegalTransition(f"distribution {self.id} has no entitlements yet")
        if min(paid, failed, amount_paid) < 0 or paid + failed > self.totals.eligible \
                or amount_paid > self.totals.net:
            raise IllegalTransition(
                f"progress {paid} paid + {failed} failed, {amount_paid} units, exceeds"
                f" {self.totals.eligible} holders / {self.totals.net} units committed"
            )
        if (paid, failed, amount_paid) != (self.paid, self.failed, self.amount_paid):
            self._progress_recorded(paid=paid, failed=failed, amount_paid=amount_paid)

    @event(ProgressRecorded)
    def _progress_recorded(self, paid: int, failed: int, amount_paid: int) -> None:
        self.paid, self.failed, self.amount_paid = paid, failed, amount_paid

    @property
    def all_settled(self) -> bool:
        return self.totals is not None and self.paid + self.failed == self.totals.eligible

    def complete(self, *, paid: int, failed: int, amount_paid: int) -> None:
        target = Status.COMPLETED_WITH_FAILURES if failed else Status.COMPLETED
        self.require_transition(target)
        if self.totals is None:  # unreachable: EXECUTING follows SNAPSHOTTED
            raise IllegalTransition("no entitlements recorded")
        if paid + failed != self.totals.eligible or amount_paid > self.totals.net:
            raise IllegalTransition(
                f"{paid} paid + {failed} failed of {self.totals.eligible} eligible"
                f" (amount {amount_paid} of {self.totals.net}) is not a completed distribution"
            )
        self._completed(paid=paid, failed=failed, amount_paid=amount_paid)

    @event(Completed)
    def _completed(self, paid: int, failed: int, amount_paid: int) -> None:
        self.status = Status.COMPLETED_WITH_FAILURES if failed else Status.COMPLETED

    def cancel(self, actor: str, reason: str) -> None:
        self.require_transition(Status.CANCELLED)
        self._cancelled(actor=actor, reason=reason)

    @event(Cancelled)
    def _cancelled(self, actor: str, reason: str) -> None:
        self.status = Status.CANCELLED

    def expire(self, unpaid: int) -> None:
        self.require_transition(Status.EXPIRED)
        self._expired(unpaid=unpaid)

    @event(Expired)
    def _expired(self, unpaid: int) -> None:
        self.status = Status.EXPIRED

    # --- treasury operations: reclaim and sweep (domain.treasury) ---

    class TreasuryOpRequested(Aggregate.Event):
        """Version 2: a sweep's destination and its configured recipient (None: treasury)."""

        class_version = 2
        number: int
        kind: str
        amount: int
        reason: str
        actor: str
        requested_at: datetime
        destination: str
        recipient: str | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["destination"], state["recipient"] = SweepDestination.TREASURY.value, None

    class TreasuryOpApproved(Aggregate.Event):
        number: int
        actor: str

    class TreasuryOpSubmitted(Aggregate.Event):
        """Signed with the treasurer's key and recorded *before* it is broadcast."""

        number: int
        tx_hash: str
        nonce: int
        signed_at: datetime

    class TreasuryOpRejected(Aggregate.Event):
        """The chain refused the transaction for good (reverted): nothing moved."""

        number: int
        tx_hash: str
        reason: str

    class Reclaimed(Aggregate.Event):
        """The vault's `Reclaimed` log: `amount` went back to `treasury`; claims closed."""

        number: int
        amount: int
        treasury: str
        tx_hash: str

    class Swept(Aggregate.Event):
        """The vault's `Swept` log of this distribution's sweep."""

        number: int
        amount: int
        treasury: str
        tx_hash: str

    @property
    def treasury_ops(self) -> dict[int, TreasuryOp]:
        """Streams recorded before treasury operations existed have none: created on use."""
        ops: dict[int, TreasuryOp] = self.__dict__.setdefault("_treasury_ops", {})
        return ops

    @property
    def reclaimed(self) -> int:
        return sum(op.amount for op in self.treasury_ops.values()
                   if op.kind is TreasuryKind.RECLAIM and op.state is TreasuryState.DONE)

    @property
    def swept(self) -> int:
        return sum(op.amount for op in self.treasury_ops.values()
                   if op.kind is TreasuryKind.SWEEP and op.state is TreasuryState.DONE)

    @property
    def sweepable(self) -> int:
        """What this distribution leaves in the vault beyond its holders' net (if the issuer
        funded the gross), less what is swept or being swept."""
        if self.totals is None:
            return 0
        beyond_net = self.totals.withheld + self.totals.dust + self.totals.skipped_amount
        taken = sum(op.amount for op in self.treasury_ops.values()
                    if op.kind is TreasuryKind.SWEEP
                    and (op.state in OPEN_STATES or op.state is TreasuryState.DONE))
        return beyond_net - taken

    def treasury_op(self, number: int) -> TreasuryOp:
        try:
            return self.treasury_ops[number]
        except KeyError:
            raise NotFound(f"distribution {self.id} has no treasury operation {number}"
                           ) from None

    def _require_on_chain(self) -> None:
        if self.commit_tx is None or self.status is Status.CANCELLED:
            raise IllegalTransition(f"distribution {self.id} is {self.status}: nothing of it is"
                                    " in the vault")

    def request_reclaim(self, *, actor: str, reason: str, now: datetime) -> int:
        """Refused before the claim deadline (holders may still claim) and while another
        reclaim is open or done: the vault reclaims a distribution once."""
        if not actor:
            raise InvalidInput("every command names its actor")
        self._require_on_chain()
        now = utc(now, "now")
        if self.claim_deadline is None or now <= self.claim_deadline:
            raise InvalidInput(f"the claim window of distribution {self.id} is open until"
                               f" {self.claim_deadline}: reclaim after it")
        if any(op.kind is TreasuryKind.RECLAIM and op.state is not TreasuryState.REJECTED
               for op in self.treasury_ops.values()):
            raise IllegalTransition(f"distribution {self.id} is already reclaimed or being"
                                    " reclaimed")
        number = len(self.treasury_ops)
        self._treasury_op_requested(number=number, kind=TreasuryKind.RECLAIM.value, amount=0,
                                    reason=_printable(reason), actor=actor, requested_at=now,
                                    destination=SweepDestination.TREASURY.value, recipient=None)
        return number

    def sweepable_to(self, destination: SweepDestination) -> int:
        """Left to sweep to `destination`: the tax authority takes at most the tax withheld,
        the dust account at most the dust, each less its own other sweeps; the treasury
        whatever is left (`sweepable`). Every bound is also within `sweepable`."""
        if destination is SweepDestination.TREASURY or self.totals is None:
            return self.sweepable
        share = self.totals.withheld if destination is SweepDestination.TAX_AUTHORITY \
            else self.totals.dust
        taken = sum(op.amount for op in self.treasury_ops.values()
                    if op.kind is TreasuryKind.SWEEP and op.destination is destination
                    and (op.state in OPEN_STATES or op.state is TreasuryState.DONE))
        return max(0, min(share - taken, self.sweepable))

    def request_sweep(self, *, actor: str, amount: int, reason: str, now: datetime,
                      destination: SweepDestination = SweepDestination.TREASURY,
                      recipient: str | None = None) -> int:
        """At most what the distribution left beyond its holders' net, less other sweeps;
        to a configured account, at most that account's share (`sweepable_to`)."""
        if not actor:
            raise InvalidInput("every command names its actor")
        self._require_on_chain()
        if type(amount) is not int or amount <= 0:
            raise InvalidInput(f"a sweep moves a positive whole amount, not {amount!r}")
        if (destination is SweepDestination.TREASURY) != (recipient is None):
            raise InvalidInput(f"a sweep to {destination.value} needs its configured account"
                               if recipient is None else "a sweep to the treasury names no"
                               " other recipient")
        if amount > self.sweepable:
            raise InvalidInput(f"distribution {self.id} has {self.sweepable} left to sweep"
                               f" (withheld + dust + skipped, less other sweeps), not {amount}")
        left = self.sweepable_to(destination)
        if amount > left:
            what = "tax withheld" if destination is SweepDestination.TAX_AUTHORITY else "dust"
            raise InvalidInput(f"distribution {self.id} has {left} of {what} left to sweep to"
                               f" its {destination.value.lower().replace('_', ' ')} account,"
                               f" not {amount}")
        number = len(self.treasury_ops)
        self._treasury_op_requested(number=number, kind=TreasuryKind.SWEEP.value, amount=amount,
                                    reason=_printable(reason), actor=actor,
                                    requested_at=utc(now, "now"),
                                    destination=destination.value, recipient=recipient)
        return number

    @event(TreasuryOpRequested)
    def _treasury_op_requested(self, number: int, kind: str, amount: int, reason: str,
                               actor: str, requested_at: datetime,
                               destination: str = SweepDestination.TREASURY.value,
                               recipient: str | None = None) -> None:
        self.treasury_ops[number] = TreasuryOp(number, TreasuryKind(kind), amount, reason,
                                               actor, requested_at,
                                               destination=SweepDestination(destination),
                                               recipient=recipient)

    def approve_treasury_op(self, number: int, actor: str) -> None:
        op = self.treasury_op(number)
        if op.state is not TreasuryState.REQUESTED:
            raise IllegalTransition(f"treasury operation {number} is {op.state}, not awaiting"
                                    " approval")
        if same_principal(actor, op.requested_by):
            raise MakerCheckerViolation(f"{actor} requested this {op.kind.lower()}; another"
                                        " must approve it")
        self._treasury_op_approved(number=number, actor=actor)

    @event(TreasuryOpApproved)
    def _treasury_op_approved(self, number: int, actor: str) -> None:
        op = self.treasury_ops[number]
        op.state, op.approved_by = TreasuryState.APPROVED, actor

    def record_treasury_submission(self, number: int, *, tx_hash: str, nonce: int,
                                   signed_at: datetime) -> None:
        op = self.treasury_op(number)
        if op.state not in {TreasuryState.APPROVED, TreasuryState.SUBMITTED}:
            raise IllegalTransition(f"treasury operation {number} is {op.state}: not sending")
        self._treasury_op_submitted(number=number, tx_hash=tx_hash, nonce=nonce,
                                    signed_at=utc(signed_at, "signed at"))

    @event(TreasuryOpSubmitted)
    def _treasury_op_submitted(self, number: int, tx_hash: str, nonce: int,
                               signed_at: datetime) -> None:
        op = self.treasury_ops[number]
        op.state = TreasuryState.SUBMITTED
        op.tx_hashes.append(tx_hash)
        op.nonces.append(nonce)
        op.last_signed_at = signed_at

    def reject_treasury_op(self, number: int, *, tx_hash: str, reason: str) -> None:
        op = self.treasury_op(number)
        if op.state is not TreasuryState.SUBMITTED or tx_hash not in op.tx_hashes:
            raise IllegalTransition(f"{tx_hash} is not a pending transaction of treasury"
                                    f" operation {number}")
        self._treasury_op_rejected(number=number, tx_hash=tx_hash,
                                   reason=_printable(reason))

    @event(TreasuryOpRejected)
    def _treasury_op_rejected(self, number: int, tx_hash: str, reason: str) -> None:
        op = self.treasury_ops[number]
        op.state, op.rejection = TreasuryState.REJECTED, reason

    def _settling(self, kind: TreasuryKind, tx_hash: str) -> TreasuryOp:
        for op in self.treasury_ops.values():
            if op.kind is kind and tx_hash in op.tx_hashes:
                if op.state is TreasuryState.DONE:
                    raise IllegalTransition(f"{kind.lower()} {op.number} is already settled")
                return op
        raise IllegalTransition(f"{tx_hash} is no {kind.lower()} this service sent for"
                                f" distribution {self.id}")

    def record_reclaimed(self, *, amount: int, treasury: str, tx_hash: str) -> None:
        op = self._settling(TreasuryKind.RECLAIM, tx_hash)
        net = self.totals.net if self.totals else 0
        if not 0 <= amount <= net - self.amount_paid:
            raise IllegalTransition(f"reclaimed {amount}, more than the {net - self.amount_paid}"
                                    " left unpaid")
        self._reclaimed(number=op.number, amount=amount, treasury=treasury, tx_hash=tx_hash)

    @event(Reclaimed)
    def _reclaimed(self, number: int, amount: int, treasury: str, tx_hash: str) -> None:
        op = self.treasury_ops[number]
        op.state, op.amount, op.settled_tx = TreasuryState.DONE, amount, tx_hash

    def record_swept(self, *, amount: int, treasury: str, tx_hash: str) -> None:
        op = self._settling(TreasuryKind.SWEEP, tx_hash)
        if amount != op.amount:
            raise IllegalTransition(f"swept {amount}, sweep {op.number} asked {op.amount}")
        self._swept(number=op.number, amount=amount, treasury=treasury, tx_hash=tx_hash)

    @event(Swept)
    def _swept(self, number: int, amount: int, treasury: str, tx_hash: str) -> None:
        op = self.treasury_ops[number]
        op.state, op.settled_tx = TreasuryState.DONE, tx_hash


def _printable(text: str) -> str:
    """A reason as recorded: printable characters only (no NUL, which no read model's text
    column can hold), at most 500 of them."""
    return "".join(c for c in text if c.isprintable())[:500]
