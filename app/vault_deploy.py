"""An upgrade's new implementation, deployed once: the record-before-broadcast protocol of
every other transaction here (app.treasury, app.vault_requests) for the contract creation
that comes before `upgradeToAndCall`.

Before, the address lived only in the worker's memory until the upgrade itself was recorded,
so a worker killed in between deployed the implementation again on its next run (gas wasted;
the vault was never upgraded twice). Now the address is found by the recorded hash:

1. The implementation recorded (`ImplementationDeployed`) → that one.
2. The last recorded deployment: mined → its receipt's contract, recorded; mined and reverted
   → the request is rejected (nothing was deployed; ask again); known to the node, or signed
   moments ago → wait (a transient error: the job runs again); lost (never broadcast, or
   dropped) → signed again with the same nonce while that nonce is unused, so at most one of
   the two can ever be mined.
3. Under the signer's nonce lock: sign the creation, record `DeploymentSubmitted(tx_hash,
   nonce)`, broadcast.
4. Wait a while for its receipt, then as in 2; still pending → transient.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from app.failpoints import failpoint
from app.ledger import PayoutLedger
from app.vault_ops import VaultOpRefused
from chain.contracts import creation_data
from chain.errors import reverts
from chain.gateway import EvmGateway, TransientChainError
from chain.sending import reason_of, signed_with_next_nonce
from chain.signer import Signer
from domain.vault_admin import VaultOp, VaultOps

GAS_MARGIN = (6, 5)  # estimate x 1.2 + 20k, as every other creation (chain.sending)


class DeploymentReverted(Exception):
    """The implementation's deployment was mined and reverted; the request is rejected."""

    def __init__(self, tx_hash: str) -> None:
        super().__init__(f"the implementation's deployment {tx_hash} reverted: nothing was"
                         " deployed; ask for the upgrade again")
        self.tx_hash = tx_hash


class ImplementationDeployer:
    def __init__(self, ledger: PayoutLedger, gateway: EvmGateway, signer: Signer, *,
                 grace: timedelta, receipt_wait: float) -> None:
        self.ledger, self.gateway, self.signer = ledger, gateway, signer
        self.grace, self.receipt_wait = grace, receipt_wait

    def implementation(self, ops: VaultOps, op: VaultOp, now: datetime) -> str:
        """The address of `op`'s implementation, deployed now if it must be. A competing job
        that recorded first makes this raise AlreadyExists (from the ledger)."""
        if op.implementation is not None:
            return op.implementation
        reuse_nonce: int | None = None
        if op.deploy_tx_hashes:
            last = op.deploy_tx_hashes[-1]
            address = self._settled(ops, op, last)
            if address is not None:
                return address
            if self.gateway.transaction_known(last):
                raise TransientChainError(f"deployment {last} is still in the node's mempool")
            if op.deploy_signed_at is not None and now - op.deploy_signed_at < self.grace:
                raise TransientChainError(f"deployment {last} was signed moments ago and is"
                                          " not seen yet")
            reuse_nonce = op.deploy_nonces[-1]  # lost: the same nonce, if still unused
        tx_hash = self._deploy(ops, op, now, reuse_nonce)
        deadline = time.monotonic() + self.receipt_wait
        while time.monotonic() < deadline:
            address = self._settled(ops, op, tx_hash)
            if address is not None:
                return address
            time.sleep(0.2)
        raise TransientChainError(f"deployment {tx_hash} not mined within {self.receipt_wait}s")

    def _settled(self, ops: VaultOps, op: VaultOp, tx_hash: str) -> str | None:
        """The contract `tx_hash` made, recorded; None while it is not mined."""
        receipt = self.gateway.receipt(tx_hash)
        if receipt is None:
            return None
        address = self.gateway.created_contract(tx_hash) if receipt["status"] == 1 else None
        if address is None:
            self.ledger.reject_vault_submission(ops.asset_id, op.number, tx_hash=tx_hash,
                                                reason="the implementation's deployment"
                                                       " reverted")
            raise DeploymentReverted(tx_hash)
        self.ledger.record_vault_implementation(ops.asset_id, op.number, tx_hash=tx_hash,
                                                address=address)
        return address

    def _deploy(self, ops: VaultOps, op: VaultOp, now: datetime,
                reuse_nonce: int | None) -> str:
        data = creation_data(self.gateway.w3, str(op.target))
        try:
            estimate = int(self.gateway.w3.eth.estimate_gas(
                {"from": self.signer.address, "data": data}))  # type: ignore[typeddict-item]
        except reverts() as err:
            raise VaultOpRefused(f"{op.target}'s deployment would revert: {reason_of(err)}"
                                 ) from None
        gas = estimate * GAS_MARGIN[0] // GAS_MARGIN[1] + 20_000
        with signed_with_next_nonce(self.gateway, self.signer, to=None, data=data,
                                    gas=gas, reuse_nonce=reuse_nonce
                                    ) as (signed, nonce):
            self.ledger.record_vault_deployment(ops.asset_id, op.number,
                                                tx_hash=signed.tx_hash, nonce=nonce,
                                                signed_at=now, expected_version=ops.version)
            failpoint("vault-deploy-after-record")
            self.gateway.broadcast(signed.raw)
        failpoint("vault-deploy-after-broadcast")
        return signed.tx_hash
