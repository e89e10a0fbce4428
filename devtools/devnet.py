"""A development network on a dev chain: the reference security token, the 6-decimal
stablecoin and a PayoutVault, with N holders of deterministic addresses.

Used by the demo, the benchmarks and the end-to-end tests. Loopback dev chains only: it
sends from the chain's unlocked dev accounts.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from eth_abi.abi import encode
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from web3 import Web3
from web3.contract import Contract

from chain.contracts import (
    EQUITY,
    call,
    deploy_security_token,
    deploy_stablecoin,
    deploy_vault,
    send,
)
from chain.errors import ChainError

TOKEN_DECIMALS = 2  # the reference token: 1 unit = 0.01 share


@dataclass
class DevNet:
    w3: Web3
    admin: str  # deployer, vault admin, and the worker's signing account on the dev chain
    treasury: str
    token: Contract
    usd: Contract
    vault: Contract
    holders: list[str]
    snapshot_id: int = 0


def holder_addresses(count: int, tag: str = "holder") -> list[str]:
    return [to_checksum_address(keccak(text=f"{tag}:{i}")[-20:]) for i in range(count)]


def deploy_devnet(w3: Web3, *, holders: int, name: str = "Acme Equity",
                  symbol: str = "ACME") -> DevNet:
    accounts = [str(a) for a in w3.eth.accounts]
    admin, treasury = accounts[0], accounts[1]
    usd = deploy_stablecoin(w3, owner=admin)
    vault = deploy_vault(w3, admin=admin, treasury=treasury,
                         grants={"OPERATOR": [admin], "APPROVER": [admin]})
    token = deploy_security_token(w3, admin=admin, name=name, symbol=symbol,
                                  decimals=TOKEN_DECIMALS, kind=EQUITY)
    for token_role in ("ISSUER_ROLE", "CORPORATE_ACTION_ROLE"):
        send(token.functions.grantRole(keccak(text=token_role), admin), admin)
    net = DevNet(w3, admin, treasury, token, usd, vault, holder_addresses(holders))
    issue_shares(net, [(h, 100 + (i * 7919) % 100_000) for i, h in enumerate(net.holders)])
    return net


ISSUE_CHUNK = 200  # holders per issueBatch: ~120k gas each for a new holder's checkpoints


_ISSUE_BATCH = keccak(text="issueBatch(address[],uint256[])")[:4]


def issue_shares(net: DevNet, grants: list[tuple[str, int]]) -> None:
    """`issueBatch` in chunks, each confirmed; a refused chunk raises its decoded error.

    The calldata is encoded with eth_abi and the JSON-RPC sent raw: web3's per-argument ABI
    normalisation and receipt formatting of 200 Transfer logs cost more than the chain's work
    (about 1.5 s of the demo's 2,000-holder issuance)."""
    for i in range(0, len(grants), ISSUE_CHUNK):
        chunk = grants[i:i + ISSUE_CHUNK]
        data = _ISSUE_BATCH + encode(["address[]", "uint256[]"],
                                     [[h for h, _ in chunk], [u for _, u in chunk]])
        tx = {"from": net.admin, "to": net.token.address, "data": "0x" + data.hex(),
              "gas": hex(30_000_000)}
        tx_hash = _rpc(net.w3, "eth_sendTransaction", [tx])
        receipt = _rpc(net.w3, "eth_getTransactionReceipt", [tx_hash])
        while receipt is None:  # automine answers at once; a block-time chain takes a moment
            time.sleep(0.05)
            receipt = _rpc(net.w3, "eth_getTransactionReceipt", [tx_hash])
        if int(receipt["status"], 16) != 1:  # replay through web3 for the decoded revert
            send(net.token.functions.issueBatch([h for h, _ in chunk], [u for _, u in chunk]),
                 net.admin, gas=30_000_000)


def _rpc(w3: Web3, method: str, params: list[Any]) -> Any:
    response = w3.provider.make_request(method, params)  # type: ignore[arg-type]
    if response.get("error"):
        raise ChainError(f"{method}: {response['error']}")
    return response["result"]


def take_snapshot(net: DevNet) -> int:
    send(net.token.functions.takeSnapshot(), net.admin)
    net.snapshot_id = int(call(net.token.functions.currentSnapshotId()))
    return net.snapshot_id


def fund_vault(net: DevNet, amount: int) -> None:
    send(net.usd.functions.mint(net.vault.address, amount), net.admin)


def block(net: DevNet, holder: str) -> None:
    """Blocklist a holder in the stablecoin, as USDC does: its transfers will revert."""
    send(net.usd.functions.setBlocked(holder, True), net.admin)


def unblock(net: DevNet, holder: str) -> None:
    """Lift the stablecoin's block (the holder's compliance case is resolved)."""
    send(net.usd.functions.setBlocked(holder, False), net.admin)
