"""Paying one batch on the HTS rail: the worker's side of exactly-once without a bitmap.

1. Load the batch; the distribution not EXECUTING → nothing to do.
2. A recorded TransactionId that may still execute is dealt with first, always:
   - its fate is SETTLED → applied (the leaves paid, or failed with the status, and the
     transaction's settlement), as the chain facts the EVM ingestor produces;
   - DEAD (window closed, the Mirror Node caught up past it, no record) → recorded as dead;
     its leaves are undecided again;
   - IN_FLIGHT with its window still open → the same TransactionId is rebuilt and sent again:
     the network deduplicates it, so this is always harmless, and it ends the wait when the
     worker died between recording and submitting. Still in flight → come back later.
3. The next undecided leaves that fit one transaction (domain/hts_planning.py), grouped by
   what the Mirror Node says of their token relationships (domain/hts_links.py): a frozen or
   KYC-revoked holder alone, the rest one transfer, or one airdrop when any of them is not
   associated (and when they last failed for want of association). `HtsSubmitted` is recorded,
   then the transaction is submitted, then its fate asked (crash points between each step).
Steps 2-3 repeat until nothing is undecided or something is in flight.

A transfer is atomic and its receipt names no holder: a HOLDER failure of a transaction of
several records no leaf outcome (HtsTransactionFailed); the batch then pays one holder per
transaction, so the others are paid and only the holder at fault fails with the status (this
is what the Mirror Node's relationships save, when it knows them). A holder not associated
with the token is paid by airdrop, without an operator.

An airdrop's SUCCESS pays at once only the holders it credited (the Mirror Node's record
of it says which); the others' leaves are PENDING_CLAIM: the tokens are still the payer's
(HIP-904). `follow_airdrops` reads the payer's outstanding airdrops: a pending leaf whose
airdrop is no longer outstanding, read past the airdrop's window, was claimed (PAID). After
the claim deadline it cancels the rest (TokenCancelAirdrop, the same record-first
lifecycle): CANCELLED, never paid. Σ paid + Σ pending + Σ cancelled + Σ failed == Σ net.

A refused precheck executed nothing; its TransactionId stays open (it may still execute if
resent inside its window) and the refusal is an `AttemptFailed` with a backoff: a transient
code (BUSY, ...) is retried; INSUFFICIENT_PAYER_BALANCE (no hbar for fees) stops the whole
distribution (WAITING_FOR_FUNDS, needed and available in tinybars) until
`resume_after_funding` finds the payer funded; any other code blocks the batch for an
operator, with the code as its reason.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

from app.failpoints import failpoint
from app.held_airdrops import HeldAirdrops, payer_of
from app.ledger import PayoutLedger
from chain.hedera.hts_rail import (
    MAX_PENDING_IDS,
    HtsRail,
    PreparedTransaction,
    Submission,
    SubmitResult,
)
from chain.hedera.ids import AccountResolver
from domain import accounts
from domain.batch import BatchStatus, PayoutBatch
from domain.distribution import Status
from domain.errors import AlreadyExists, IllegalTransition, InvalidInput
from domain.failures import FailureClass, RetryPolicy
from domain.hts_failures import (
    PAYER_SHORT_CODES,
    PRECHECK_RETRY,
    SUCCESS,
    classify_status,
    wants_airdrop,
)
from domain.hts_links import TokenLink, next_transaction
from domain.hts_pending import (
    AirdropHeldBack,
    PendingAirdrop,
    latest_consensus,
    leg_key,
    parse_leg,
)
from domain.hts_planning import AccountRef, HtsLeg, HtsLimits, plan_hts_batches
from domain.hts_recovery import TxWindow, Verdict
from domain.hts_transaction_ids import TransactionIdTaken
from domain.terms import DistributionKind


class UnresolvableAccount(InvalidInput):
    """A holder's EVM address that is not a long-zero Hedera address, given to a resolver
    without the Mirror Node (`mirror_resolved_account` resolves ECDSA aliases)."""


def long_zero_account(address: str) -> AccountRef:
    """The account a long-zero EVM address packs (shard 0, realm 0: every network today)."""
    account_id = accounts.hedera_id(address)
    num = int(account_id.rsplit(".", 1)[1]) if account_id else 0
    if not 0 < num < 1 << 63:
        raise UnresolvableAccount(f"{address} is not a long-zero address of shard 0 realm 0")
    return (0, 0, num)


def mirror_resolved_account(resolver: AccountResolver) -> Callable[[str], AccountRef]:
    """Long-zero addresses offline; an ECDSA alias (the ledger's spelling of an ECDSA
    account) through the Mirror Node, once per process (the resolver caches it)."""
    def resolve(address: str) -> AccountRef:
        if accounts.hedera_id(address) is not None:
            return long_zero_account(address)
        shard, realm, num = (int(part) for part in
                             resolver.resolve([address])[address].account_id.split("."))
        return (shard, realm, num)
    return resolve


@dataclass(frozen=True, slots=True)
class HtsOutcome:
    # settled | in-flight | refused | retry-later | waiting-for-funds | blocked | nothing-to-do
    action: str
    detail: str = ""
    transaction_id: str | None = None
    retry_at: datetime | None = None


log = logging.getLogger(__name__)

# Tries at a fresh valid start when another batch already used the one chosen.
TRANSACTION_ID_TRIES = 5


def _now(rail: HtsRail) -> datetime:
    return datetime.fromtimestamp(rail.now(), UTC)


class HtsBatchExecutor:
    def __init__(self, ledger: PayoutLedger, rail: HtsRail, *,
                 resolve: Callable[[str], AccountRef] = long_zero_account,
                 limits: HtsLimits | None = None, retry_policy: RetryPolicy | None = None,
                 unit_random: Callable[[], float] = random.random) -> None:
        self._ledger, self._rail, self._resolve = ledger, rail, resolve
        self._limits = limits or HtsLimits()
        self._policy, self._random = retry_policy or RetryPolicy(), unit_random

    def execute(self, batch_id: UUID) -> HtsOutcome:
        links: dict[AccountRef, TokenLink] = {}  # asked once per holder per run
        while True:
            batch = self._ledger.get_batch_by_id(batch_id)
            distribution = self._ledger.get_distribution(batch.distribution_id)
            if distribution.status is not Status.EXECUTING:
                return HtsOutcome("nothing-to-do", "the distribution is not executing")
            if batch.status is BatchStatus.BLOCKED and not batch.hts_open:
                return HtsOutcome("blocked", batch.rejection or "")
            if distribution.terms.kind is DistributionKind.CASH_OUT:
                # Its leaves are units the vault's cashOut redeems as it pays: a plain HTS
                # transfer would pay the principal and leave the units with the holder.
                return HtsOutcome("refused", "a cash-out redeems units through the vault"
                                  " (cashOut); the HTS rail cannot redeem them")
            if batch.hts_open:
                # A blocked batch's open TransactionId is not sent again, only its fate found
                # (it may have executed); the batch then waits for its operator.
                waiting = self._settle_open(batch, resend=batch.status is not BatchStatus.BLOCKED)
                if waiting is not None:
                    return waiting
                continue
            kind, legs = self._next(batch, links)
            if not legs:
                return HtsOutcome("nothing-to-do", "every leaf has an outcome")
            refused = self._submit_prepared(batch, kind, legs)
            if refused is not None:
                return refused

    def _settle_open(self, batch: PayoutBatch, *, resend: bool = True) -> HtsOutcome | None:
        """Deal with the one open TransactionId; an outcome to return when it must wait."""
        tid, (start, seconds, kind) = next(iter(batch.hts_open.items()))
        window = TxWindow(start, seconds)
        fate = self._rail.fate(tid, window)
        if resend and fate.verdict is Verdict.IN_FLIGHT and self._rail.now() < window.closes_at:
            if kind == "airdrop":  # mirrored first (one recorded by the code before was not)
                try:
                    self._ledger.mirror_airdrop_in_flight(batch.id, transaction_id=tid)
                except AirdropHeldBack as err:  # not sent again: it dies, or it executed
                    return HtsOutcome("in-flight", f"not sent again: {err}", tid)
            legs = [self._leg(batch, i) for i in batch.submitted_leaves[tid]]
            resent = self._rail.submit(self._prepare(kind, legs, start))  # same TransactionId
            if resent.result is SubmitResult.REFUSED:
                return self._refused(batch, kind, tid, resent)
            fate = self._rail.fate(tid, window)
        if fate.verdict is Verdict.SETTLED and fate.status is not None:
            return self._apply(batch, tid, kind, fate.status)
        if fate.verdict is Verdict.DEAD:
            self._ledger.record_hts_dead(batch.id, transaction_id=tid)
            return None
        return HtsOutcome("in-flight", "no final status yet", tid)

    def _apply(self, batch: PayoutBatch, tid: str, kind: str, status: str) -> HtsOutcome | None:
        if kind == "cancel":
            if status == SUCCESS:
                self._ledger.record_airdrops_cancelled(batch.id, transaction_id=tid)
            else:  # e.g. a holder claimed meanwhile: the leaves stay pending; claims first
                self._ledger.record_hts_failed(batch.id, transaction_id=tid, status=status)
            return None
        if self._pays_again(status, kind, len(batch.submitted_leaves[tid])):
            self._ledger.record_hts_failed(batch.id, transaction_id=tid, status=status)
            return None
        pending: list[int] = []
        if kind == "airdrop" and status == SUCCESS:
            credited = self._rail.airdrop_credited(tid)
            if credited is None:
                return HtsOutcome("in-flight", "the airdrop succeeded; the Mirror Node has no"
                                  " record of whom it paid yet", tid)
            pending = [i for i in batch.submitted_leaves[tid]
                       if self._resolve(batch.leaves[i].account) not in credited]
        self._ledger.apply_hts_outcome(batch.id, transaction_id=tid, status=status,
                                       pending=pending)
        return None

    def _refused(self, batch: PayoutBatch, kind: str, tid: str,
                 submission: Submission) -> HtsOutcome:
        """A precheck refused the transaction: nothing executed, and its TransactionId stays
        open until its fate is known (it may still execute if resent inside its window)."""
        code = submission.code or "REFUSED"
        if kind == "cancel":  # its leaves are pending, not undecided: nothing to record
            return HtsOutcome("refused", code, tid)
        attempt = batch.transient_failures + 1
        now = _now(self._rail)
        if code in PAYER_SHORT_CODES:
            # The payer cannot pay fees: every batch of the distribution would be refused
            # alike. The distribution waits for hbar; the batch retries once it is funded.
            needed = int(self._rail.max_fee.to_tinybars())
            available = self._rail.payer_tinybars()
            resume_check = now + timedelta(seconds=self._policy.ceiling(attempt))
            self._ledger.record_attempt_failure(batch.id, reason=code, retry_at=resume_check)
            distribution = self._ledger.get_distribution(batch.distribution_id)
            if distribution.status is Status.EXECUTING and available < needed:
                self._ledger.await_funds(batch.distribution_id, needed=needed,
                                         available=available)
            return HtsOutcome("waiting-for-funds", f"{code}: the payer holds {available}"
                              f" tinybars, one transaction may cost {needed}", tid, resume_check)
        delay = self._policy.delay(attempt, self._random()) if code in PRECHECK_RETRY else None
        retry_at: datetime | None = now + timedelta(seconds=delay) if delay is not None else None
        self._ledger.record_attempt_failure(batch.id, reason=code, retry_at=retry_at)
        if retry_at is None:
            return HtsOutcome("blocked", code, tid)
        return HtsOutcome("retry-later", code, tid, retry_at)

    @staticmethod
    def _held_back(batch: PayoutBatch, reason: str) -> HtsOutcome:
        """An airdrop to a holder whose pending airdrop is being cancelled waits for that
        cancellation's fate. Nothing is recorded and no retry budget spent (it is no fault,
        and may take a cancellation's whole validity window): the supervisor queues the
        batch's job again on its next pass, as for any HTS batch with undecided leaves."""
        return HtsOutcome("retry-later", f"batch {batch.number} waits: {reason}")

    def resume_after_funding(self, distribution_id: UUID) -> bool:
        """A distribution stopped because the payer had no hbar for fees resumes once it
        holds enough for a transaction again (its batches then run as before)."""
        distribution = self._ledger.get_distribution(distribution_id)
        if distribution.status is not Status.WAITING_FOR_FUNDS:
            return False
        needed = int(self._rail.max_fee.to_tinybars())
        available = self._rail.payer_tinybars()
        if available < needed:
            return False
        self._ledger.resume_with_funds(distribution_id, available=available, needed=needed)
        return True

    # --- pending airdrops: claims, and cancellation after the claim deadline ----------------

    def follow_airdrops(self, batch_id: UUID) -> HtsOutcome:
        """Record the claims of this batch's pending airdrops; after the distribution's claim
        deadline (and every merged one's, domain/hts_pending.py), cancel the rest, exactly
        once (TransactionId recorded first)."""
        while True:
            batch = self._ledger.get_batch_by_id(batch_id)
            held = self._ledger.held_airdrops()  # each holder's loaded once per pass
            outstanding = self._sync_claims(batch, held)
            batch = self._ledger.get_batch_by_id(batch_id)
            cancelling = {tid for tid, (_s, _v, kind) in batch.hts_open.items()
                          if kind == "cancel"}
            if cancelling:
                waiting = self._settle_open(batch)
                if waiting is not None:
                    return waiting
                continue
            if not batch.hts_pending:
                return HtsOutcome("nothing-to-do", "no pending airdrop")
            deadline = self._ledger.get_distribution(batch.distribution_id).claim_deadline
            if deadline is None or _now(self._rail) < deadline:
                return HtsOutcome("nothing-to-do", f"{len(batch.hts_pending)} airdrops pending"
                                  " until the claim deadline")
            if batch.hts_open:  # a payment still in flight: its fate first (a blocked
                # batch's is not sent again: it waits for its operator)
                waiting = self._settle_open(batch, resend=batch.status is not BatchStatus.BLOCKED)
                if waiting is not None:
                    return waiting
                continue
            # Leaves pending from before the holders' pending airdrops were kept are held
            # now, so the merged amount is known in full before anything is cancelled.
            self._ledger.adopt_pending_airdrops(batch_id)
            held = self._ledger.held_airdrops()
            legs, waiting_on = self._cancellable(batch, outstanding, held)
            if not legs:
                return HtsOutcome("nothing-to-do", waiting_on or
                                  "the pending airdrops are not listed yet")
            expects = {leg.leaf_index: sorted(self._held_legs(batch, leg.leaf_index, held))
                       for leg in legs}
            try:
                refused = self._submit_prepared(batch, "cancel", legs, cancel_expects=expects)
            except (IllegalTransition, AlreadyExists) as err:
                # Another batch opened the cancellation of the same merged airdrop first, or
                # an airdrop to the holder was recorded meanwhile: read it all again later.
                return HtsOutcome("nothing-to-do", f"not cancelled now: {err}")
            if refused is not None:
                return refused

    def _cancellable(self, batch: PayoutBatch, outstanding: dict[AccountRef, int],
                     held: HeldAirdrops) -> tuple[list[HtsLeg], str]:
        """The pending airdrops this batch cancels now, and why the others wait.

        The network keeps one pending airdrop per (sender, receiver, token): a second
        distribution's airdrop to the same unassociated holder is added to it, and one
        cancellation ends both. So a leaf is cancelled only when no airdrop to its holder is
        in flight, the outstanding amount is exactly what the ledger holds there (nothing
        unknown merged in), and every leaf held there is past its own claim deadline. Any
        of those batches may send it (the first to open it on the holder's aggregate); its
        success ends the other batches' leaves too, in the same save."""
        cancel: list[HtsLeg] = []
        waits: list[str] = []
        deadlines: dict[UUID, datetime | None] = {}  # batch -> its claim deadline, this pass
        payer = str(self._rail.payer)
        for i in sorted(batch.hts_pending):
            leg, pending = self._leg(batch, i), held.of_pending(batch, i)
            if payer_of(batch.hts_pending[i]) != payer:  # only its sender can cancel it
                waits.append(f"{batch.leaves[i].account}: airdropped from"
                             f" {payer_of(batch.hts_pending[i])}; this worker pays from"
                             f" {payer} and cannot cancel it")
            elif pending is None or leg_key(batch.id, i) not in pending.legs:
                waits.append(f"{batch.leaves[i].account}: its pending airdrop is not held by"
                             " the ledger yet (held once no cancellation of it is in flight)")
            elif pending.cancelling is not None:
                waits.append(f"{pending.holder}: the cancellation {pending.cancelling} is in"
                             " flight")
            elif pending.sending:
                tid, sent = next(iter(pending.sending.items()))
                waits.append(f"{pending.holder}: the airdrop {tid} to them (batch"
                             f" {parse_leg(sent[0])[0]}) is in flight; its fate first")
            elif outstanding.get(leg.account) != pending.amount:
                waits.append(f"{pending.holder}: the Mirror Node lists"
                             f" {outstanding.get(leg.account, 0)} pending, the ledger holds"
                             f" {pending.amount} from {len(pending.legs)} distributions'"
                             " airdrops; waiting for them to agree")
            elif ahead := self._deadline_ahead(pending, batch.id, deadlines):
                waits.append(f"{pending.holder}: merged with another distribution's airdrop to"
                             f" them, whose claim deadline ({ahead}) has not passed; both are"
                             " cancelled then, unless the holder claims them")
            else:
                cancel.append(leg)
        return cancel[:MAX_PENDING_IDS], "; ".join(waits[:3]) + (
            f" (and {len(waits) - 3} more)" if len(waits) > 3 else "")

    def _deadline_ahead(self, pending: PendingAirdrop, own: UUID,
                        deadlines: dict[UUID, datetime | None]) -> str:
        """The latest claim deadline, among the other leaves merged here, still ahead."""
        now = _now(self._rail)
        ahead: list[str] = []
        for other in {parse_leg(leg)[0] for leg in pending.legs} - {own}:
            if other not in deadlines:
                deadlines[other] = self._ledger.get_distribution(
                    self._ledger.get_batch_by_id(other).distribution_id).claim_deadline
            deadline = deadlines[other]
            if deadline is None:
                ahead.append("none set yet")
            elif deadline > now:
                ahead.append(deadline.isoformat())
        return max(ahead) if ahead else ""

    def _sync_claims(self, batch: PayoutBatch, held: HeldAirdrops) -> dict[AccountRef, int]:
        """Records the claims read; returns the outstanding airdrops it read them from."""
        if not batch.hts_pending:
            return {}
        outstanding, horizon = self._rail.outstanding_airdrops()
        cancelling = {i for tid, (_s, _v, kind) in batch.hts_open.items() if kind == "cancel"
                      for i in batch.submitted_leaves[tid]}
        payer = str(self._rail.payer)
        claimed = [i for i, tid in sorted(batch.hts_pending.items())
                   if i not in cancelling
                   # only the payer read can say: another's airdrops are not in its list
                   and payer_of(tid) == payer
                   and self._resolve(batch.leaves[i].account) not in outstanding
                   # the Mirror Node must have ingested past the airdrop itself: before, its
                   # absence from the list proves nothing
                   and horizon is not None and horizon >= latest_consensus(tid)
                   and not self._cancel_in_flight(batch, i, held)]
        if claimed and horizon is not None:
            try:
                self._ledger.record_airdrops_claimed(batch.id, leaf_indices=claimed,
                                                     indexed_until=horizon)
            except (IllegalTransition, AlreadyExists) as err:
                # A cancellation of a merged airdrop was opened meanwhile, or another batch
                # recorded the same claim first: read again on the next pass.
                log.warning("claims of batch %s not recorded now: %s", batch.number, err)
        return outstanding

    @staticmethod
    def _held_legs(batch: PayoutBatch, leaf_index: int, held: HeldAirdrops) -> list[str]:
        pending = held.of_pending(batch, leaf_index)
        return list(pending.legs) if pending is not None else []

    @staticmethod
    def _cancel_in_flight(batch: PayoutBatch, leaf_index: int, held: HeldAirdrops) -> bool:
        """Another batch's cancellation of the airdrop this leaf was merged into: while it is
        open, the leaf vanishing from the outstanding list is that cancellation's doing."""
        pending = held.of_pending(batch, leaf_index)
        return pending is not None and pending.cancelling is not None

    @staticmethod
    def _pays_again(status: str, kind: str, leaves: int) -> bool:
        """A failed transaction whose leaves are paid again instead of failing: a holder
        reason in a transaction of several (the receipt does not say whose: one holder per
        transaction finds out, and the others are paid), or a transfer to a holder not
        associated with the token (an airdrop reaches them)."""
        if classify_status(status) is not FailureClass.HOLDER:
            return False
        return leaves > 1 or (kind == "transfer" and wants_airdrop(status))

    def _next(self, batch: PayoutBatch, links: dict[AccountRef, TokenLink],
              ) -> tuple[str, list[HtsLeg]]:
        """The next transaction's kind and legs; `links` caches the Mirror Node's answers."""
        undecided = [self._leg(batch, i) for i in batch.undecided_leaves()]
        if batch.hts_one_by_one:
            legs = undecided[:1]
        else:
            payer = (self._rail.payer.shard, self._rail.payer.realm, self._rail.payer.num)
            first = next(plan_hts_batches(payer, undecided, self._limits), None)
            legs = first.legs if first is not None else []
        if any(wants_airdrop(batch.hts_last_status.get(leg.leaf_index, ""))
               or wants_airdrop(batch.failure_reasons.get(leg.leaf_index, "")) for leg in legs):
            return "airdrop", legs
        if batch.hts_one_by_one or not legs:
            return "transfer", legs
        unasked = [leg.account for leg in legs if leg.account not in links]
        if unasked:
            links.update(self._rail.token_links(unasked))
        return next_transaction(legs, links)

    def _leg(self, batch: PayoutBatch, leaf_index: int) -> HtsLeg:
        leaf = batch.leaves[leaf_index]
        return HtsLeg(leaf_index, self._resolve(leaf.account), leaf.net)

    def _prepare(self, kind: str, legs: list[HtsLeg], start: int) -> PreparedTransaction:
        if kind == "airdrop":
            return self._rail.prepare_airdrop(legs, start)
        if kind == "cancel":
            return self._rail.prepare_cancel(legs, start)
        return self._rail.prepare_transfer(legs, start)

    def _submit_prepared(self, batch: PayoutBatch, kind: str, legs: list[HtsLeg], *,
                         cancel_expects: dict[int, list[str]] | None = None,
                         ) -> HtsOutcome | None:
        for _ in range(TRANSACTION_ID_TRIES):
            prepared = self._prepare(kind, legs, self._rail.next_valid_start_ns())
            try:
                self._ledger.record_hts_submission(
                    batch.id, transaction_id=prepared.transaction_id,
                    valid_start_ns=prepared.window.valid_start_ns,
                    valid_seconds=prepared.window.valid_seconds, kind=prepared.kind,
                    leaf_indices=[leg.leaf_index for leg in legs],
                    expected_version=batch.version, cancel_expects=cancel_expects)
                break
            except TransactionIdTaken:
                continue  # another batch holds that id: the next valid start is later
            except AirdropHeldBack as err:  # nothing recorded: sent once it is settled
                return self._held_back(batch, str(err))
        else:
            return HtsOutcome("retry-later", f"{TRANSACTION_ID_TRIES} valid starts in a row"
                              " were already used")
        failpoint("hts-after-record")
        submission = self._rail.submit(prepared)
        failpoint("hts-after-submit")
        if submission.result is SubmitResult.REFUSED:
            # Nothing executed; the TransactionId stays open until it is proven dead, so a
            # refused payment is never retried under a second id while the first could run.
            return self._refused(self._ledger.get_batch_by_id(batch.id), kind,
                                 prepared.transaction_id, submission)
        return None
