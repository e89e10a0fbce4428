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
3. The next undecided leaves that fit one transaction (domain/hts_planning.py): a transfer, or
   an airdrop when they last failed for want of association. `HtsSubmitted` is recorded, then
   the transaction is submitted, then its fate asked (crash points between each step).
Steps 2-3 repeat until nothing is undecided or something is in flight.

A transfer is atomic and its receipt names no holder: a HOLDER failure of a transaction of
several records no leaf outcome (HtsTransactionFailed); the batch then pays one holder per
transaction, so the others are paid and only the holder at fault fails with the status. A
holder not associated with the token is paid by airdrop, without an operator.

Not modelled yet (issue #18): an airdrop's SUCCESS records its leaves PAID, though for an
unassociated holder the tokens stay with the payout account until the holder claims them
(and go back when the airdrop is cancelled after the claim deadline); a refused precheck is
reported, not yet recorded as an attempt failure with backoff.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from uuid import UUID

from app.failpoints import failpoint
from app.ledger import PayoutLedger
from chain.hedera.hts_rail import HtsRail, PreparedTransaction, SubmitResult
from chain.hedera.ids import AccountResolver
from domain import accounts
from domain.batch import PayoutBatch
from domain.distribution import Status
from domain.errors import InvalidInput
from domain.failures import FailureClass
from domain.hts_failures import classify_status, wants_airdrop
from domain.hts_planning import AccountRef, HtsLeg, HtsLimits, plan_hts_batches
from domain.hts_recovery import TxWindow, Verdict
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
    action: str  # settled | in-flight | refused | nothing-to-do
    detail: str = ""
    transaction_id: str | None = None


class HtsBatchExecutor:
    def __init__(self, ledger: PayoutLedger, rail: HtsRail, *,
                 resolve: Callable[[str], AccountRef] = long_zero_account,
                 limits: HtsLimits | None = None) -> None:
        self._ledger, self._rail, self._resolve = ledger, rail, resolve
        self._limits = limits or HtsLimits()

    def execute(self, batch_id: UUID) -> HtsOutcome:
        while True:
            batch = self._ledger.get_batch_by_id(batch_id)
            distribution = self._ledger.get_distribution(batch.distribution_id)
            if distribution.status is not Status.EXECUTING:
                return HtsOutcome("nothing-to-do", "the distribution is not executing")
            if distribution.terms.kind is DistributionKind.CASH_OUT:
                # Its leaves are units the vault's cashOut redeems as it pays: a plain HTS
                # transfer would pay the principal and leave the units with the holder.
                return HtsOutcome("refused", "a cash-out redeems units through the vault"
                                  " (cashOut); the HTS rail cannot redeem them")
            if batch.hts_open:
                waiting = self._settle_open(batch)
                if waiting is not None:
                    return waiting
                continue
            legs = self._next_legs(batch)
            if not legs:
                return HtsOutcome("nothing-to-do", "every leaf has an outcome")
            refused = self._submit(batch, legs)
            if refused is not None:
                return refused

    def _settle_open(self, batch: PayoutBatch) -> HtsOutcome | None:
        """Deal with the one open TransactionId; an outcome to return when it must wait."""
        tid, (start, seconds, kind) = next(iter(batch.hts_open.items()))
        window = TxWindow(start, seconds)
        fate = self._rail.fate(tid, window)
        if fate.verdict is Verdict.IN_FLIGHT and self._rail.now() < window.closes_at:
            legs = [self._leg(batch, i) for i in batch.submitted_leaves[tid]]
            self._rail.submit(self._prepare(kind, legs, start))  # same TransactionId
            fate = self._rail.fate(tid, window)
        if fate.verdict is Verdict.SETTLED and fate.status is not None:
            if self._pays_again(fate.status, kind, len(batch.submitted_leaves[tid])):
                self._ledger.record_hts_failed(batch.id, transaction_id=tid, status=fate.status)
            else:
                self._ledger.apply_hts_outcome(batch.id, transaction_id=tid, status=fate.status)
            return None
        if fate.verdict is Verdict.DEAD:
            self._ledger.record_hts_dead(batch.id, transaction_id=tid)
            return None
        return HtsOutcome("in-flight", "no final status yet", tid)

    @staticmethod
    def _pays_again(status: str, kind: str, leaves: int) -> bool:
        """A failed transaction whose leaves are paid again instead of failing: a holder
        reason in a transaction of several (the receipt does not say whose: one holder per
        transaction finds out, and the others are paid), or a transfer to a holder not
        associated with the token (an airdrop reaches them)."""
        if classify_status(status) is not FailureClass.HOLDER:
            return False
        return leaves > 1 or (kind == "transfer" and wants_airdrop(status))

    def _next_legs(self, batch: PayoutBatch) -> list[HtsLeg]:
        undecided = [self._leg(batch, i) for i in batch.undecided_leaves()]
        if batch.hts_one_by_one:
            return undecided[:1]
        payer = (self._rail.payer.shard, self._rail.payer.realm, self._rail.payer.num)
        first = next(plan_hts_batches(payer, undecided, self._limits), None)
        return first.legs if first is not None else []

    def _leg(self, batch: PayoutBatch, leaf_index: int) -> HtsLeg:
        leaf = batch.leaves[leaf_index]
        return HtsLeg(leaf_index, self._resolve(leaf.account), leaf.net)

    def _prepare(self, kind: str, legs: list[HtsLeg], start: int) -> PreparedTransaction:
        if kind == "airdrop":
            return self._rail.prepare_airdrop(legs, start)
        return self._rail.prepare_transfer(legs, start)

    def _submit(self, batch: PayoutBatch, legs: list[HtsLeg]) -> HtsOutcome | None:
        airdrop = any(wants_airdrop(batch.hts_last_status.get(leg.leaf_index, ""))
                      or wants_airdrop(batch.failure_reasons.get(leg.leaf_index, ""))
                      for leg in legs)
        prepared = self._prepare("airdrop" if airdrop else "transfer", legs,
                                 self._rail.next_valid_start_ns())
        self._ledger.record_hts_submission(
            batch.id, transaction_id=prepared.transaction_id,
            valid_start_ns=prepared.window.valid_start_ns,
            valid_seconds=prepared.window.valid_seconds, kind=prepared.kind,
            leaf_indices=[leg.leaf_index for leg in legs], expected_version=batch.version)
        failpoint("hts-after-record")
        submission = self._rail.submit(prepared)
        failpoint("hts-after-submit")
        if submission.result is SubmitResult.REFUSED:
            # Nothing executed; the TransactionId stays open until it is proven dead, so a
            # refused payment is never retried under a second id while the first could run.
            return HtsOutcome("refused", submission.code or "", prepared.transaction_id)
        return None
