"""Moving an approved distribution forward without an operator, one step per call.

Each step reads the distribution's last recorded state and does the one thing that state
needs, so a crash at any point is resumed by calling again (the steps themselves are
repeatable: the snapshot is found before it is taken, the vault's commitment is read before it
is announced, start is a state transition, and batch jobs have deterministic ids):

    APPROVED, record date passed  → freeze the snapshot        (every execution mode)
    SNAPSHOTTED                   → commit the root on the vault (every execution mode); on
                                    the HTS rail: the snapshot from the Mirror Node and the
                                    root published to the HCS topic instead
    COMMITTED, due                → start paying (SCHEDULED at its time; RECURRING and
                                    corporate-action occurrences at once; ON_DEPOSIT once the
                                    vault holds the net amount, else WAITING_FOR_FUNDS)
    WAITING_FOR_FUNDS, funded     → resume
    claim deadline passed         → EXPIRED (the unpaid rest is the treasury's to reclaim);
                                    not an HTS distribution whose airdrops are still open:
                                    the worker cancels them first (its reclaim)
    EXECUTING / partly failed, a deposit arrived → retry leaves that failed for want of funds

MANUAL distributions are prepared (snapshot, commit) but started only by an operator.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import UUID

from rq import Queue

from app.execution import commit_on_chain, dispatch, start_execution
from app.funds import FundsBook
from app.importing import snapshot_from_chain
from app.ledger import PayoutLedger
from chain.contracts import at, call
from chain.gateway import EvmGateway
from chain.record_date import action_snapshot, snapshot_at_or_after
from chain.signer import Signer
from chain.token_reader import corporate_actions
from domain.asset import AssetKind
from domain.distribution import TRANSITIONS, Distribution, Status
from domain.failures import is_short_of_funds
from domain.planning import GasModel
from domain.rails import Rail
from domain.schedule import action_of_key
from domain.terms import ExecutionKind, RuleKind, Trigger

ACTOR = "scheduler"
SETTLED = frozenset({Status.COMPLETED, Status.CANCELLED, Status.EXPIRED})


@dataclass
class Automation:
    ledger: PayoutLedger
    gateway: EvmGateway
    signer: Signer
    queue: Queue
    gas_model: GasModel
    claim_window: timedelta = timedelta(days=90)
    # The HTS rail's two steps (runtime.hedera.hts_automation), None where this process has
    # no Hedera account: an HTS distribution then waits, SNAPSHOTTED or APPROVED, for one.
    hts_snapshot: Callable[[Distribution], object] | None = None
    hts_commit: Callable[[UUID, datetime], object] | None = None
    funds: FundsBook = field(init=False)

    def __post_init__(self) -> None:
        self.funds = FundsBook(self.ledger)

    def advance(self, distribution_id: UUID, now: datetime, *, deposit_seen: bool = False
                ) -> str | None:
        """Take the next step this distribution is ready for; returns what was done."""
        d = self.ledger.get_distribution(distribution_id)
        execution = d.terms.execution
        if d.claim_deadline is not None and d.claim_deadline <= now \
                and Status.EXPIRED in TRANSITIONS[d.status] and not self._airdrops_open(d):
            self.ledger.expire_distribution(d.id)  # what is unpaid is the treasury's to reclaim
            return "expired"
        if d.rail is Rail.HTS and d.status in (Status.APPROVED, Status.SNAPSHOTTED):
            return self._advance_hts(d, now)
        if d.rail is Rail.HTS and d.status is Status.WAITING_FOR_FUNDS:
            return None  # the payer's hbar, not the vault: the worker resumes it once funded
        match d.status:
            case Status.APPROVED if d.terms.record_date <= now:
                self._snapshot(d)
                return "snapshotted"
            case Status.SNAPSHOTTED:
                commit_on_chain(self.ledger, self.gateway, self.signer, d.id,
                                claim_deadline=now + self.claim_window, actor=ACTOR)
                return "committed"
            case Status.COMMITTED if execution.kind is ExecutionKind.AUTOMATIC \
                    and execution.trigger is Trigger.ON_DEPOSIT:
                needed, available = self._funds(d)
                if available < needed:
                    self.ledger.await_funds(d.id, needed=needed, available=available)
                    return "waiting-for-funds"
                start_execution(self.ledger, self.queue, d.id, ACTOR)
                return "started"
            case Status.COMMITTED if is_due(d, now):
                start_execution(self.ledger, self.queue, d.id, ACTOR)
                return "started"
            case Status.WAITING_FOR_FUNDS:
                needed, available = self._funds(d)
                if available < needed:
                    return None
                self.ledger.resume_with_funds(d.id, available=available, needed=needed)
                dispatch(self.ledger, self.queue, d.id)
                return "resumed"
            case Status.EXECUTING | Status.COMPLETED_WITH_FAILURES if deposit_seen and d.failed:
                return self._retry_funds_failures(d)
        return None

    def _airdrops_open(self, d: Distribution) -> bool:
        """HTS airdrops still pending (or being cancelled): past the claim deadline the worker
        cancels them, which is the HTS rail's reclaim, and the distribution then completes.
        Expiring it first would stop the supervisor following them: the tokens would stay
        claimable by the holders while the ledger said the rest was the treasury's."""
        # Whatever the status (one WAITING_FOR_FUNDS for the payer's hbar still has them);
        # only HTS batches have either.
        return any(batch.hts_pending or batch.hts_open for batch in self.ledger.batches(d.id))

    def _advance_hts(self, d: Distribution, now: datetime) -> str | None:
        """An HTS distribution's snapshot (the Mirror Node's balances at the record date)
        and commit (its root published to the HCS topic), by this process's Hedera account."""
        if d.status is Status.APPROVED and d.terms.record_date <= now \
                and self.hts_snapshot is not None:
            self.hts_snapshot(d)
            return "snapshotted"
        if d.status is Status.SNAPSHOTTED and self.hts_commit is not None:
            self.hts_commit(d.id, now + self.claim_window)
            return "committed"
        return None

    def refresh_corporate_actions(self, asset_id: UUID) -> int:
        """Record the dividends/coupons the token declared since the ledger last looked."""
        asset = self.ledger.get_asset(asset_id)
        new = corporate_actions(self.gateway.w3, asset.token_address,
                                payment_decimals=asset.payment_decimals,
                                after=max(asset.corporate_actions, default=0))
        if new:
            self.ledger.record_corporate_actions(asset_id, new)
        return len(new)

    def _snapshot(self, d: Distribution) -> None:
        asset = self.ledger.get_asset(d.asset_id)
        action_id = action_of_key(d.idempotency_key)
        if action_id is not None:
            snapshot_id = action_snapshot(self.gateway, self.signer, asset.token_address,
                                          action_id, coupon=asset.kind == AssetKind.BOND)
        else:
            snapshot_id = snapshot_at_or_after(self.gateway, self.signer, asset.token_address,
                                               d.terms.record_date)
        vault_balance = None
        if d.terms.rule.kind is RuleKind.PERCENTAGE and asset.vault_address:
            vault_balance = self._balance(asset.payment_token, asset.vault_address)
        snapshot_from_chain(self.ledger, self.gateway.w3, d.id, snapshot_id=snapshot_id,
                            gas_model=self.gas_model, vault_balance=vault_balance)

    def _funds(self, d: Distribution) -> tuple[int, int]:
        """(still needed, available to it) in payment-token units: what the vault holds
        beyond what distributions committed before it still owe (app.funds)."""
        asset = self.ledger.get_asset(d.asset_id)
        needed = (d.totals.net if d.totals else 0) - d.amount_paid
        if not asset.vault_address:
            return needed, 0
        held = self._balance(asset.payment_token, asset.vault_address)
        owed = self.funds.owed_ahead_of(d, asset.vault_address, asset.payment_token)
        return needed, max(held - owed, 0)

    def _balance(self, token: str, holder: str) -> int:
        return int(call(at(self.gateway.w3, "Stablecoin", token).functions.balanceOf(holder)))

    def _retry_funds_failures(self, d: Distribution) -> str | None:
        """Leaves the vault could not pay for want of funds go again once a deposit covers
        them (a holder's own failure, e.g. a blocklist, waits for an operator)."""
        short = [(b, i) for b in self.ledger.batches(d.id) for i in b.failed_leaves()
                 if is_short_of_funds(b.failure_reasons.get(i, ""))]
        if not short:
            return None
        needed = sum(b.leaves[i].net for b, i in short)
        _, available = self._funds(d)
        if available < needed:
            return None
        _, leaves, _ = self.ledger.retry_distribution(
            d.id, actor=ACTOR, reason=f"a deposit covers {needed} for leaves that failed for"
                                      " want of funds", only=is_short_of_funds)
        dispatch(self.ledger, self.queue, d.id)
        return f"retried {leaves}"


def is_due(d: Distribution, now: datetime) -> bool:
    """Whether a committed distribution's execution mode starts it at `now`."""
    execution = d.terms.execution
    if execution.kind is ExecutionKind.SCHEDULED:
        return execution.at is not None and execution.at <= now
    return execution.kind in {ExecutionKind.RECURRING, ExecutionKind.AUTOMATIC}
