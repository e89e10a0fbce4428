"""Sign, broadcast and wait for one administrative transaction (announce, token snapshots,
the vault's deployment).

Payout batches do not come through here: they follow the record-before-broadcast protocol in
`app.executor`. These transactions are each made safely repeatable by their caller reading
the chain first (the vault's commitment, the token's snapshot), so a crash after broadcast
is repaired by looking, not by sending again blindly. The vault's deployment is the exception:
a one-off an operator runs once and reads the result of (`mass-payout vault deploy`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from web3.types import TxReceipt

from chain.errors import ChainError, decode_revert, reverts
from chain.gateway import EvmGateway
from chain.signer import SignedTx, Signer


class TransactionRevertedError(ChainError):
    """The transaction was mined and reverted; the message carries the decoded reason."""


def send_and_wait(gateway: EvmGateway, signer: Signer, *, to: str, data: str,
                  gas: int | None = None, timeout: float = 120) -> str:
    """Returns the mined transaction's hash; raises TransactionRevertedError on a revert.

    `gas=None` is the node's estimate with a margin, for calls whose cost is not known in
    advance (a deployment's role grants).
    """
    return _mined(gateway, signer, to=to, data=data, gas=gas, timeout=timeout)[0]


def deploy_and_wait(gateway: EvmGateway, signer: Signer, *, data: str, gas: int | None = None,
                    timeout: float = 120) -> tuple[str, str]:
    """Signs a contract creation (constructor data); returns (its address, the tx hash)."""
    tx_hash, receipt = _mined(gateway, signer, to=None, data=data, gas=gas, timeout=timeout)
    if not receipt.get("contractAddress"):
        raise TransactionRevertedError("mined, but no contract was created")
    return str(receipt["contractAddress"]), tx_hash


@contextmanager
def signed_with_next_nonce(gateway: EvmGateway, signer: Signer, *, to: str | None, data: str,
                           gas: int, reuse_nonce: int | None = None,
                           ) -> Iterator[tuple[SignedTx, int]]:
    """A type-2 transaction (`to` None: a creation) signed with the signer's next nonce, or
    with `reuse_nonce` (a recorded submission's, sent again) while it is still unused. The
    nonce lock is held until the caller's block ends: record it, broadcast it, then leave,
    and no other job of this signer takes that nonce meanwhile."""
    with gateway.nonce_lock(signer.address):
        pending = gateway.pending_nonce(signer.address)
        nonce = reuse_nonce if reuse_nonce is not None and reuse_nonce >= pending else pending
        fees = gateway.fees()
        signed = signer.sign_transaction({
            "type": 2, "chainId": gateway.chain_id, **({"to": to} if to is not None else {}),
            "nonce": nonce, "data": data, "gas": gas, "value": 0,
            "maxFeePerGas": fees.max_fee_per_gas,
            "maxPriorityFeePerGas": fees.max_priority_fee_per_gas})
        yield signed, nonce


def _mined(gateway: EvmGateway, signer: Signer, *, to: str | None, data: str, gas: int | None,
           timeout: float) -> tuple[str, TxReceipt]:
    target: dict[str, Any] = {"to": to} if to is not None else {}  # no `to`: a creation
    if gas is None:
        try:
            gas = int(gateway.w3.eth.estimate_gas(
                {"from": signer.address, "data": data, **target})) * 6 // 5 + 20_000  # type: ignore[typeddict-item]
        except reverts() as err:
            raise TransactionRevertedError(f"would revert: {reason_of(err)}") from err
    with signed_with_next_nonce(gateway, signer, to=to, data=data, gas=gas) as (signed, _):
        gateway.broadcast(signed.raw)
    w3 = gateway.w3
    receipt = w3.eth.wait_for_transaction_receipt(signed.tx_hash, timeout=timeout)  # type: ignore[arg-type]
    if receipt["status"] != 1:
        try:
            w3.eth.call({"from": signer.address, **target, "data": data},  # type: ignore[typeddict-item]
                        receipt["blockNumber"] - 1)
        except Exception as err:
            raise TransactionRevertedError(f"reverted: {reason_of(err)}") from err
        raise TransactionRevertedError("reverted (out of gas?)")
    return signed.tx_hash, receipt


def reason_of(err: Exception) -> str:
    data: Any = getattr(err, "data", None)
    if isinstance(data, str | bytes) and len(data) >= 4:
        return str(decode_revert(data))
    return str(err)
