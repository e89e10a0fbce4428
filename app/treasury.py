"""Reclaim and sweep: the treasurer's side of the exactly-once protocol, and its RQ job.

A treasury operation is requested by one person and approved by another (the Distribution
aggregate decides both); approving queues `execute_treasury_op`, which a `treasurer`
process runs with the treasurer's key (the only key holding the vault's TREASURER_ROLE).

1. Load the operation; not approved, or already settled → nothing to do.
2. Its last transaction, if any: mined and succeeded → the ingestor brings the vault's
   `Reclaimed`/`Swept` log, nothing to do; mined and reverted → recorded as rejected (nothing
   moved; it may be requested again); known to the node, or signed moments ago → wait.
3. Ask the vault first (an `eth_call` from the treasurer): a call that would revert (the
   chain's clock still before the deadline, a key without the role, a paused vault, more than
   the vault's free balance) is refused here with the vault's own error; nothing is recorded.
4. Under the signer's nonce lock: sign, record `TreasuryOpSubmitted(tx_hash, nonce)` (and the
   transaction's index for the ingestor), then broadcast. A lost transaction (never
   broadcast: a crash between record and broadcast, or dropped) is signed again with the same
   nonce while that nonce is unused, so at most one of the two can ever be mined: a sweep,
   which the vault would repeat, is never sent twice.
5. Wait a while for the receipt; still pending → a transient error, and RQ runs the job again
   later, which climbs the same ladder.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from uuid import UUID

from rq import Queue, Retry
from rq.exceptions import DuplicateJobError

from app.failpoints import failpoint
from app.follow import Follower, notifications
from app.ledger import PayoutLedger
from app.owed_jobs import OwedJob
from chain.contracts import load_artifact
from chain.encoding import onchain_id
from chain.gateway import EvmGateway, TransientChainError
from chain.sending import reason_of, signed_with_next_nonce
from chain.signer import Signer
from domain.distribution import Distribution
from domain.errors import AlreadyExists
from domain.treasury import TreasuryKind, TreasuryOp, TreasuryState

QUEUE_NAME = "treasury"
OPEN = frozenset({TreasuryState.APPROVED, TreasuryState.SUBMITTED})  # owed the treasurer's job
PENDING_GRACE = timedelta(seconds=60)
RETRY = Retry(max=10, interval=[5, 15, 30, 60, 120])
GAS_MARGIN = (6, 5)  # estimate x 1.2 + 20k: one call, cost known only roughly

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TreasuryOutcome:
    action: str  # submitted | nothing-to-do | in-flight | mined | rejected | refused
    detail: str = ""
    tx_hash: str | None = None


def calldata(op: TreasuryOp, distribution_id: UUID, payment_token: str) -> str:
    """`reclaim(bytes32)`, `sweep(address,uint256)` to the vault's treasury, or
    `sweepTo(address,address,uint256)` to the configured account the request recorded (the
    vault refuses one its admin did not allow), from the vault's own ABI."""
    from web3 import Web3

    vault = Web3().eth.contract(abi=load_artifact("PayoutVault").abi)
    if op.kind is TreasuryKind.RECLAIM:
        return str(vault.encode_abi("reclaim", args=[onchain_id(distribution_id)]))
    if op.recipient is not None:
        return str(vault.encode_abi("sweepTo", args=[payment_token, op.recipient, op.amount]))
    return str(vault.encode_abi("sweep", args=[payment_token, op.amount]))


class TreasuryExecutor:
    def __init__(self, ledger: PayoutLedger, gateway: EvmGateway, signer: Signer, *,
                 grace: timedelta = PENDING_GRACE, receipt_wait: float = 30.0) -> None:
        self.ledger, self.gateway, self.signer = ledger, gateway, signer
        self.grace, self.receipt_wait = grace, receipt_wait

    def execute(self, distribution_id: UUID, number: int,
                now: datetime | None = None) -> TreasuryOutcome:
        now = now or datetime.now(UTC)
        distribution = self.ledger.get_distribution(distribution_id)
        op = distribution.treasury_op(number)
        if op.state not in {TreasuryState.APPROVED, TreasuryState.SUBMITTED}:
            return TreasuryOutcome("nothing-to-do", f"{op.kind.lower()} {number} is {op.state}")
        reuse_nonce: int | None = None
        if op.state is TreasuryState.SUBMITTED:
            standing = self._standing(distribution, op, now)
            if standing is not None:
                return standing
            reuse_nonce = op.nonces[-1] if op.nonces else None  # lost: same nonce, if unused
        return self._send(distribution, op, now, reuse_nonce)

    def _standing(self, distribution: Distribution, op: TreasuryOp,
                  now: datetime) -> TreasuryOutcome | None:
        """Where the last transaction stands; None when it is lost (safe to sign again)."""
        last = op.tx_hashes[-1]
        receipt = self.gateway.receipt(last)
        if receipt is not None:
            if receipt["status"] == 1:
                return TreasuryOutcome("mined", "the ingestor records the vault's log", last)
            self.ledger.reject_treasury_submission(distribution.id, op.number, tx_hash=last,
                                                   reason=self._revert_reason(distribution, op))
            return TreasuryOutcome("rejected", "reverted on-chain: nothing moved", last)
        if self.gateway.transaction_known(last):
            raise TransientChainError(f"{last} is still in the node's mempool")
        if op.last_signed_at is not None and now - op.last_signed_at < self.grace:
            raise TransientChainError(f"{last} was signed moments ago and is not seen yet")
        return None

    def _revert_reason(self, distribution: Distribution, op: TreasuryOp) -> str:
        try:
            self._preflight(distribution, op)
        except _WouldRevert as err:
            return str(err)
        return "reverted (out of gas, or the vault's state changed since)"

    def _preflight(self, distribution: Distribution, op: TreasuryOp) -> tuple[str, str, int]:
        asset = self.ledger.get_asset(distribution.asset_id)
        if not asset.vault_address:
            raise _WouldRevert(f"asset {asset.symbol} pays through no vault")
        data = calldata(op, distribution.id, asset.payment_token)
        tx = {"from": self.signer.address, "to": asset.vault_address, "data": data}
        try:
            gas = int(self.gateway.w3.eth.estimate_gas(tx))  # type: ignore[arg-type]
        except TransientChainError:
            raise
        except Exception as err:  # a revert, decoded into the vault's error
            if "connection" in str(err).lower() or "timeout" in str(err).lower():
                raise TransientChainError(f"RPC failed: {err}") from err
            raise _WouldRevert(reason_of(err)) from None
        return asset.vault_address, data, gas * GAS_MARGIN[0] // GAS_MARGIN[1] + 20_000

    def _send(self, distribution: Distribution, op: TreasuryOp, now: datetime,
              reuse_nonce: int | None) -> TreasuryOutcome:
        try:
            to, data, gas = self._preflight(distribution, op)
        except _WouldRevert as err:
            return TreasuryOutcome("refused", f"the vault would refuse it: {err}")
        with signed_with_next_nonce(self.gateway, self.signer, to=to, data=data,
                                    gas=gas, reuse_nonce=reuse_nonce
                                    ) as (signed, nonce):
            try:
                self.ledger.record_treasury_submission(
                    distribution.id, op.number, tx_hash=signed.tx_hash, nonce=nonce,
                    signed_at=now, expected_version=distribution.version)
            except AlreadyExists:
                return TreasuryOutcome("nothing-to-do", "another job recorded a submission")
            failpoint("treasury-after-record")
            self.gateway.broadcast(signed.raw)
        deadline = time.monotonic() + self.receipt_wait
        while time.monotonic() < deadline:
            receipt = self.gateway.receipt(signed.tx_hash)
            if receipt is not None:
                if receipt["status"] != 1:
                    self.ledger.reject_treasury_submission(
                        distribution.id, op.number, tx_hash=signed.tx_hash,
                        reason=self._revert_reason(self.ledger.get_distribution(
                            distribution.id), op))
                    return TreasuryOutcome("rejected", "reverted on-chain", signed.tx_hash)
                return TreasuryOutcome("submitted", f"mined, nonce {nonce}", signed.tx_hash)
            time.sleep(0.2)
        raise TransientChainError(f"{signed.tx_hash} not mined within {self.receipt_wait}s")


class _WouldRevert(Exception):
    pass


def open_operations(ledger: PayoutLedger) -> Iterator[tuple[UUID, int]]:
    """(distribution, number) of every operation approved and not settled, found in the
    ledger's own log: what a treasurer starting up (after a crash, or a job that never ran
    because Redis lost it) still owes."""
    seen: set[UUID] = set()
    for note in notifications(ledger, Distribution.TreasuryOpApproved):
        distribution_id = UUID(str(note.originator_id))
        if distribution_id in seen:
            continue
        seen.add(distribution_id)
        for op in ledger.get_distribution(distribution_id).treasury_ops.values():
            if op.state in OPEN:
                yield distribution_id, op.number


def resume(ledger: PayoutLedger, executor: TreasuryExecutor) -> list[TreasuryOutcome]:
    """Run every open operation once, in this process (each run climbs the same ladder, so
    one already sent is looked up, never sent again). A transient fault leaves it for its
    job or the next start."""
    outcomes = []
    for distribution_id, number in open_operations(ledger):
        try:
            outcomes.append(executor.execute(distribution_id, number))
        except TransientChainError as err:
            outcomes.append(TreasuryOutcome("in-flight", str(err)))
    return outcomes


# --- the RQ side: one job per approved operation (deterministic id) ---

_executor: TreasuryExecutor | None = None


def install(executor: TreasuryExecutor) -> None:
    """Called once by the treasurer process at start (one wiring point per process)."""
    global _executor  # noqa: PLW0603  # the per-process context RQ's job functions reach
    _executor = executor


def execute_treasury_op(distribution_id: str, number: int) -> str:
    if _executor is None:
        raise RuntimeError("treasurer not wired: run it with `mass-payout treasurer`")
    outcome = _executor.execute(UUID(distribution_id), number)
    if outcome.action == "refused":
        raise RuntimeError(outcome.detail)  # failed job, with the vault's reason; nothing sent
    return f"{outcome.action}: {outcome.detail} {outcome.tx_hash or ''}".strip()


def job_id(distribution_id: UUID, number: int) -> str:
    return f"treasury-{distribution_id}-{number}"


def dispatch(queue: Queue, distribution_id: UUID, number: int) -> bool:
    """Queue the approved operation once; False if it is queued already."""
    try:
        queue.enqueue(execute_treasury_op, str(distribution_id), number,
                      job_id=job_id(distribution_id, number), unique=True, retry=RETRY,
                      failure_ttl=7 * 24 * 3600)
    except DuplicateJobError:
        return False
    return True


def approve(ledger: PayoutLedger, queue: Queue | None, distribution_id: UUID, number: int,
            actor: str) -> tuple[int, bool]:
    """Record the approval (four eyes), then queue the job: (position, queued)."""
    position = ledger.approve_treasury_op(distribution_id, number, actor)
    return position, dispatch(queue, distribution_id, number) if queue is not None else False


class OwedTreasuryJobs:
    """For the supervisor (app.owed_jobs): every approved operation not yet settled is owed
    its job. Without this only the treasurer's start-up pass (`resume`) found an operation
    whose job Redis lost, or RQ failed through an outage longer than its retries; now one is
    queued again within a supervisor pass or two. A job run again is harmless: the executor
    climbs the same ladder and never sends an operation twice."""

    name = "treasury"

    def __init__(self, ledger: PayoutLedger, queue: Queue) -> None:
        self.ledger, self.queue = ledger, queue
        self._approvals = Follower(ledger, Distribution.TreasuryOpApproved)
        self._open: set[UUID] = set()  # distributions with an operation possibly open

    def owed(self) -> Iterator[OwedJob]:
        self._open.update(UUID(str(n.originator_id)) for n in self._approvals.new())
        for distribution_id in sorted(self._open):
            ops = [op.number for op in
                   self.ledger.get_distribution(distribution_id).treasury_ops.values()
                   if op.state in OPEN]
            if not ops:  # every one settled; a new request comes back through its approval
                self._open.discard(distribution_id)
            for number in ops:
                yield OwedJob(self.queue, job_id(distribution_id, number),
                              partial(dispatch, self.queue, distribution_id, number), _gave_up)


def _gave_up(reason: str) -> None:
    # No event fits (nothing was sent); the treasurer's next start runs it again (`resume`).
    log.error("treasury operation left to an operator: %s", reason)
