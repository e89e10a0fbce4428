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
from chain.errors import ChainError
from chain.gateway import EvmGateway
from chain.sending import TransactionRevertedError, send_and_wait
from chain.signer import Signer
from domain.distribution import Distribution
from domain.terms import DistributionKind

ANNOUNCE_GAS = 200_000
ANNOUNCE_CASH_OUT_GAS = 300_000  # measured ~198,000: the asset, its rate and scale stored too


class AnnounceError(ChainError):
    """The vault refused or holds a different commitment for this distribution."""


def announce(gateway: EvmGateway, signer: Signer, vault: Contract, distribution: Distribution,
             *, payment_token: str, claim_deadline: datetime,
             asset_token: str | None = None) -> str:
    """Announce (or find the announcement of) the distribution; returns its real tx hash.

    A CASH_OUT is announced with `announceCashOut`: its leaves are units of `asset_token`,
    redeemed at the rule's principal per whole unit (the bond's nominal)."""
    if distribution.totals is None or distribution.merkle_root is None:
        raise AnnounceError("the distribution has no committed entitlements yet")
    key = onchain_id(distribution.id)
    root = bytes.fromhex(distribution.merkle_root[2:])
    onchain: Any = call(vault.functions.distribution(key))
    if bytes(onchain[5]) != bytes(32):  # struct field `root`
        if bytes(onchain[5]) != root or int(onchain[6]) != distribution.totals.net:
            raise AnnounceError(f"the vault holds another commitment for {distribution.id}")
        return _announcement_tx(gateway.w3, vault, key)
    deadline = int(claim_deadline.timestamp())
    if distribution.terms.kind is DistributionKind.CASH_OUT:
        if asset_token is None:
            raise AnnounceError("a cash-out is announced with the bond token it redeems")
        data = vault.encode_abi("announceCashOut", args=[
            key, payment_token, asset_token, distribution.terms.rule.value, root,
            distribution.totals.net, distribution.totals.eligible, deadline])
        gas = ANNOUNCE_CASH_OUT_GAS
    else:
        data = vault.encode_abi("announce", args=[
            key, payment_token, root, distribution.totals.net, distribution.totals.eligible,
            deadline])
        gas = ANNOUNCE_GAS
    try:
        return send_and_wait(gateway, signer, to=vault.address, data=data, gas=gas)
    except TransactionRevertedError as err:
        raise AnnounceError(f"announce {err}") from err


def _announcement_tx(w3: Web3, vault: Contract, key: bytes) -> str:
    logs = vault.events.Announced().get_logs(from_block=0, argument_filters={
        "distributionId": key})
    if not logs:
        raise AnnounceError("the vault holds our root but no Announced log was found")
    return "0x" + bytes(logs[0]["transactionHash"]).hex()
