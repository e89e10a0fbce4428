"""Sign, broadcast and wait for one administrative transaction (announce, token snapshots).

Payout batches do not come through here: they follow the record-before-broadcast protocol in
`chain.executor`. These transactions are each made safely repeatable by their caller reading
the chain first (the vault's commitment, the token's snapshot), so a crash after broadcast
is repaired by looking, not by sending again blindly.
"""

from __future__ import annotations

from typing import Any

from chain.errors import decode_revert
from chain.gateway import EvmGateway
from chain.signer import Signer


class TransactionRevertedError(Exception):
    """The transaction was mined and reverted; the message carries the decoded reason."""


def send_and_wait(gateway: EvmGateway, signer: Signer, *, to: str, data: str, gas: int,
                  timeout: float = 120) -> str:
    """Returns the mined transaction's hash; raises TransactionRevertedError on a revert."""
    with gateway.nonce_lock(signer.address):
        fees = gateway.fees()
        signed = signer.sign_transaction({
            "type": 2, "chainId": gateway.chain_id, "to": to, "data": data,
            "nonce": gateway.pending_nonce(signer.address), "gas": gas, "value": 0,
            "maxFeePerGas": fees.max_fee_per_gas,
            "maxPriorityFeePerGas": fees.max_priority_fee_per_gas,
        })
        gateway.broadcast(signed.raw)
    w3 = gateway.w3
    receipt = w3.eth.wait_for_transaction_receipt(signed.tx_hash, timeout=timeout)  # type: ignore[arg-type]
    if receipt["status"] != 1:
        try:
            w3.eth.call({"from": signer.address, "to": to, "data": data},  # type: ignore[typeddict-item]
                        receipt["blockNumber"] - 1)
        except Exception as err:
            raise TransactionRevertedError(f"reverted: {reason_of(err)}") from err
        raise TransactionRevertedError("reverted (out of gas?)")
    return signed.tx_hash


def reason_of(err: Exception) -> str:
    data: Any = getattr(err, "data", None)
    if isinstance(data, str | bytes) and len(data) >= 4:
        return str(decode_revert(data))
    return str(err)
