"""Committing a distribution's root on the vault (`announce`), safely repeatable.

`announce` succeeds once per distribution on-chain. If a previous run broadcast it and crashed
before recording, the vault already holds our root: we find the real transaction in the vault's
`Announced` log and record that hash, never a made-up one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from web3 import Web3
from web3.contract import Contract

from chain.contracts import call
from chain.encoding import onchain_id
from chain.errors import decode_revert
from chain.gateway import EvmGateway
from chain.signer import Signer
from domain.distribution import Distribution

ANNOUNCE_GAS = 200_000


class AnnounceError(Exception):
    """The vault refused or holds a different commitment for this distribution."""


def announce(gateway: EvmGateway, signer: Signer, vault: Contract, distribution: Distribution,
             *, payment_token: str, claim_deadline: datetime) -> str:
    """Announce (or find the announcement of) the distribution; returns its real tx hash."""
    if distribution.totals is None or distribution.merkle_root is None:
        raise AnnounceError("the distribution has no committed entitlements yet")
    key = onchain_id(distribution.id)
    root = bytes.fromhex(distribution.merkle_root[2:])
    onchain: Any = call(vault.functions.distribution(key))
    if bytes(onchain[5]) != bytes(32):  # struct field `root`
        if bytes(onchain[5]) != root or int(onchain[6]) != distribution.totals.net:
            raise AnnounceError(f"the vault holds another commitment for {distribution.id}")
        return _announcement_tx(gateway.w3, vault, key)
    data = vault.encode_abi("announce", args=[
        key, payment_token, root, distribution.totals.net, distribution.totals.eligible,
        int(claim_deadline.timestamp())])
    with gateway.nonce_lock(signer.address):
        fees = gateway.fees()
        signed = signer.sign_transaction({
            "type": 2, "chainId": gateway.chain_id, "to": vault.address, "data": data,
            "nonce": gateway.pending_nonce(signer.address), "gas": ANNOUNCE_GAS, "value": 0,
            "maxFeePerGas": fees.max_fee_per_gas,
            "maxPriorityFeePerGas": fees.max_priority_fee_per_gas,
        })
        gateway.broadcast(signed.raw)
    receipt = gateway.w3.eth.wait_for_transaction_receipt(signed.tx_hash, timeout=120)  # type: ignore[arg-type]
    if receipt["status"] != 1:
        try:
            gateway.w3.eth.call({"from": signer.address, "to": vault.address, "data": data},
                                receipt["blockNumber"] - 1)
        except Exception as err:
            raise AnnounceError(f"announce reverted: {_reason(err)}") from err
        raise AnnounceError("announce reverted (out of gas?)")
    return signed.tx_hash


def _announcement_tx(w3: Web3, vault: Contract, key: bytes) -> str:
    logs = vault.events.Announced().get_logs(from_block=0, argument_filters={
        "distributionId": key})
    if not logs:
        raise AnnounceError("the vault holds our root but no Announced log was found")
    return "0x" + bytes(logs[0]["transactionHash"]).hex()


def _reason(err: Exception) -> str:
    data = getattr(err, "data", None)
    if isinstance(data, str | bytes) and len(data) >= 4:
        return str(decode_revert(data))
    return str(err)
