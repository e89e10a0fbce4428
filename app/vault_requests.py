"""Vault administration asked for through the API, carried out by an admin-key process.

The API holds no signing key: it records a request (domain.vault_admin), another person
approves it, and approving queues `execute_vault_op`, which `mass-payout vault work` runs with
the key that holds the vault's role for it (PAUSER, DEFAULT_ADMIN, UPGRADER). The protocol is
the treasurer's (app.treasury), step for step:

1. Load the request; not approved, or already settled → nothing to do.
2. Its last transaction: mined and succeeded → the ingestor brings the vault's log
   (`Paused`, `RoleGranted`, `Upgraded`, …), nothing to do; reverted → recorded as rejected;
   known to the node, or signed moments ago → wait (a transient error: RQ retries).
3. Ask the vault first (`eth_call` from the key): a call it would refuse (a key without the
   role, already paused) is refused here with the vault's own error; nothing is recorded. An
   upgrade's layout and the key's UPGRADER role are checked again, then its implementation
   deployed by the same protocol, recorded before it is broadcast (app.vault_deploy): after
   a crash its address is found by the recorded hash, never deployed twice.
4. Under the signer's nonce lock: sign, record `Submitted(tx_hash, nonce)`, broadcast. A lost
   transaction is signed again with the same nonce while that nonce is unused.
5. Wait a while for the receipt; still pending → transient, and the job runs again later.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from rq import Queue, Retry
from rq.exceptions import DuplicateJobError

from app.follow import notifications
from app.ledger import PayoutLedger
from app.vault_deploy import DeploymentReverted, ImplementationDeployer
from app.vault_ops import VaultOpRefused, check_upgrade
from chain.contracts import DEFAULT_ADMIN_ROLE, at, role
from chain.gateway import EvmGateway, TransientChainError
from chain.sending import reason_of, signed_with_next_nonce
from chain.signer import Signer
from domain.errors import AlreadyExists, InvalidInput
from domain.treasury import TreasuryState
from domain.vault_admin import VaultAction, VaultOp, VaultOps

QUEUE_NAME = "vault-ops"
PENDING_GRACE = timedelta(seconds=60)
RETRY = Retry(max=10, interval=[5, 15, 30, 60, 120])
CURRENT_IMPLEMENTATION = "PayoutVault"


@dataclass(frozen=True, slots=True)
class VaultOpOutcome:
    action: str  # submitted | nothing-to-do | mined | rejected | refused
    detail: str = ""
    tx_hash: str | None = None


def request(ledger: PayoutLedger, asset_id: UUID, *, action: VaultAction | str,
            role_name: str | None, account: str | None, target: str | None, reason: str,
            actor: str, now: datetime) -> tuple[int, int]:
    """Record a request, refused first (nothing recorded) when it is bad input: an unknown
    role or account (the domain), or an upgrade to a layout that does not keep the vault's."""
    if action == VaultAction.UPGRADE and target:
        try:
            check_upgrade(CURRENT_IMPLEMENTATION, target)
        except VaultOpRefused as err:
            raise InvalidInput(str(err)) from None
    return ledger.request_vault_op(asset_id, action=action, role=role_name, account=account,
                                   target=target, reason=reason, actor=actor, now=now)


def _role(name: str) -> bytes:
    return DEFAULT_ADMIN_ROLE if name == "DEFAULT_ADMIN" else role(name)


class VaultOpExecutor:
    def __init__(self, ledger: PayoutLedger, gateway: EvmGateway, signer: Signer, *,
                 grace: timedelta = PENDING_GRACE, receipt_wait: float = 30.0) -> None:
        self.ledger, self.gateway, self.signer = ledger, gateway, signer
        self.grace, self.receipt_wait = grace, receipt_wait
        self.deployer = ImplementationDeployer(ledger, gateway, signer, grace=grace,
                                               receipt_wait=receipt_wait)

    def execute(self, asset_id: UUID, number: int,
                now: datetime | None = None) -> VaultOpOutcome:
        now = now or datetime.now(UTC)
        ops = self.ledger.vault_ops(asset_id)
        if ops is None:
            return VaultOpOutcome("nothing-to-do", f"asset {asset_id} has no vault requests")
        op = ops.op(number)
        if op.state not in {TreasuryState.APPROVED, TreasuryState.SUBMITTED}:
            return VaultOpOutcome("nothing-to-do", f"{op.action.lower()} {number} is {op.state}")
        reuse_nonce: int | None = None
        if op.state is TreasuryState.SUBMITTED:
            last = op.tx_hashes[-1]
            receipt = self.gateway.receipt(last)
            if receipt is not None:
                if receipt["status"] == 1:
                    return VaultOpOutcome("mined", "the ingestor records the vault's log", last)
                self.ledger.reject_vault_submission(asset_id, number, tx_hash=last,
                                                    reason="reverted on-chain")
                return VaultOpOutcome("rejected", "reverted on-chain: nothing changed", last)
            if self.gateway.transaction_known(last):
                raise TransientChainError(f"{last} is still in the node's mempool")
            if op.last_signed_at is not None and now - op.last_signed_at < self.grace:
                raise TransientChainError(f"{last} was signed moments ago and is not seen yet")
            reuse_nonce = op.nonces[-1] if op.nonces else None  # lost: same nonce, if unused
        return self._send(ops, op, now, reuse_nonce)

    def _calldata(self, ops: VaultOps, op: VaultOp) -> tuple[Any, str]:
        vault = at(self.gateway.w3, "PayoutVault", ops.vault)
        match op.action:
            case VaultAction.PAUSE | VaultAction.UNPAUSE:
                return vault, vault.encode_abi(op.action.lower(), args=[])
            case VaultAction.GRANT | VaultAction.REVOKE:
                fn = "grantRole" if op.action is VaultAction.GRANT else "revokeRole"
                return vault, vault.encode_abi(fn, args=[_role(str(op.role)), op.account])
        return vault, vault.encode_abi("upgradeToAndCall", args=[op.implementation, b""])

    def _deployed(self, ops: VaultOps, op: VaultOp, now: datetime) -> VaultOps:
        """The requests with `op`'s implementation deployed and recorded (app.vault_deploy),
        once its layout and the key's role are checked again (the build may have changed)."""
        check_upgrade(CURRENT_IMPLEMENTATION, str(op.target))
        vault = at(self.gateway.w3, "PayoutVault", ops.vault)
        if not bool(vault.functions.hasRole(role("UPGRADER"), self.signer.address).call()):
            raise VaultOpRefused(f"{self.signer.address} does not hold UPGRADER_ROLE")
        if op.implementation is not None:
            return ops
        self.deployer.implementation(ops, op, now)
        return self.ledger.vault_ops(ops.asset_id) or ops  # read again: its version moved

    def _send(self, ops: VaultOps, op: VaultOp, now: datetime,
              reuse_nonce: int | None) -> VaultOpOutcome:
        try:
            if op.action is VaultAction.UPGRADE:
                ops = self._deployed(ops, op, now)
                op = ops.op(op.number)
            vault, data = self._calldata(ops, op)
            tx = {"from": self.signer.address, "to": vault.address, "data": data}
            gas = int(self.gateway.w3.eth.estimate_gas(tx))  # type: ignore[arg-type]
        except VaultOpRefused as err:
            return VaultOpOutcome("refused", str(err))
        except DeploymentReverted as err:
            return VaultOpOutcome("rejected", str(err), err.tx_hash)
        except AlreadyExists:
            return VaultOpOutcome("nothing-to-do", "another job recorded the deployment")
        except TransientChainError:
            raise
        except Exception as err:  # a revert, decoded into the vault's error
            if "connection" in str(err).lower() or "timeout" in str(err).lower():
                raise TransientChainError(f"RPC failed: {err}") from err
            return VaultOpOutcome("refused", f"the vault would refuse it: {reason_of(err)}")
        with signed_with_next_nonce(self.gateway, self.signer, to=vault.address, data=data,
                                    gas=gas * 6 // 5 + 20_000, reuse_nonce=reuse_nonce
                                    ) as (signed, nonce):
            try:
                self.ledger.record_vault_submission(
                    ops.asset_id, op.number, tx_hash=signed.tx_hash, nonce=nonce,
                    signed_at=now, expected_version=ops.version)
            except AlreadyExists:
                return VaultOpOutcome("nothing-to-do", "another job recorded a submission")
            self.gateway.broadcast(signed.raw)
        deadline = time.monotonic() + self.receipt_wait
        while time.monotonic() < deadline:
            receipt = self.gateway.receipt(signed.tx_hash)
            if receipt is not None:
                if receipt["status"] != 1:
                    self.ledger.reject_vault_submission(ops.asset_id, op.number,
                                                        tx_hash=signed.tx_hash,
                                                        reason="reverted on-chain")
                    return VaultOpOutcome("rejected", "reverted on-chain", signed.tx_hash)
                return VaultOpOutcome("submitted", f"mined, nonce {nonce}", signed.tx_hash)
            time.sleep(0.2)
        raise TransientChainError(f"{signed.tx_hash} not mined within {self.receipt_wait}s")


def open_vault_ops(ledger: PayoutLedger) -> Iterator[tuple[UUID, int]]:
    """(asset, number) of every vault request approved and not settled, from the ledger's
    own log: what an admin-key process starting up (or a supervisor re-queueing lost jobs)
    still owes. Re-queue each with `dispatch`."""
    seen: set[UUID] = set()
    for note in notifications(ledger, VaultOps.Approved):
        ops_id = UUID(str(note.originator_id))
        if ops_id in seen:
            continue
        seen.add(ops_id)
        ops: VaultOps = ledger.repository.get(ops_id)
        for number in ops.open_numbers:
            yield ops.asset_id, number


def resume(ledger: PayoutLedger, executor: VaultOpExecutor) -> list[VaultOpOutcome]:
    outcomes = []
    for asset_id, number in open_vault_ops(ledger):
        try:
            outcomes.append(executor.execute(asset_id, number))
        except TransientChainError as err:
            outcomes.append(VaultOpOutcome("in-flight", str(err)))
    return outcomes


# --- the RQ side: one job per approved request (deterministic id) ---

_executor: VaultOpExecutor | None = None


def install(executor: VaultOpExecutor) -> None:
    """Called once by `mass-payout vault work` at start (one wiring point per process)."""
    global _executor  # noqa: PLW0603  # the per-process context RQ's job functions reach
    _executor = executor


def execute_vault_op(asset_id: str, number: int) -> str:
    if _executor is None:
        raise RuntimeError("vault admin process not wired: run `mass-payout vault work`")
    outcome = _executor.execute(UUID(asset_id), number)
    if outcome.action == "refused":
        raise RuntimeError(outcome.detail)  # failed job, with the vault's reason; nothing sent
    return f"{outcome.action}: {outcome.detail} {outcome.tx_hash or ''}".strip()


def job_id(asset_id: UUID, number: int) -> str:
    return f"vault-op-{asset_id}-{number}"


def dispatch(queue: Queue, asset_id: UUID, number: int) -> bool:
    """Queue the approved request once; False if it is queued already."""
    try:
        queue.enqueue(execute_vault_op, str(asset_id), number, job_id=job_id(asset_id, number),
                      unique=True, retry=RETRY, failure_ttl=7 * 24 * 3600)
    except DuplicateJobError:
        return False
    return True


def approve(ledger: PayoutLedger, queue: Queue | None, asset_id: UUID, number: int,
            actor: str) -> tuple[int, bool]:
    """Record the approval (four eyes), then queue the job: (position, queued)."""
    position = ledger.approve_vault_op(asset_id, number, actor)
    return position, dispatch(queue, asset_id, number) if queue is not None else False
