"""Fixtures for the chain adapters: the deployed system on py-evm (reverted after each test),
a security token with 1,000 holders and a snapshot (built once: py-evm needs ~20 s for it),
and an anvil chain for the paths only a JSON-RPC endpoint has (batches, raw transactions)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from web3 import Web3
from web3.contract import Contract

from chain.contracts import EQUITY, deploy_security_token, role, send
from devtools.devchain import Anvil, pyevm_web3
from tests.contracts.helpers import System, addresses, deploy_system

CROWD = 1_000


@dataclass(frozen=True)
class Crowd:
    """An EQUITY token whose snapshot 1 holds `balances`; it changed after the snapshot."""

    token: Contract
    snapshot_id: int
    balances: dict[str, int]


def grant_token_roles(token: Contract, admin: str) -> None:
    for name in ("ISSUER", "CORPORATE_ACTION"):
        send(token.functions.grantRole(role(name), admin), admin)


def issue_crowd(w3: Web3, admin: str, n: int = CROWD) -> Crowd:
    """n holders with distinct balances, a snapshot, then changes the snapshot must ignore."""
    token = deploy_security_token(w3, admin=admin, name="Acme Equity", symbol="AEQ",
                                  decimals=2, kind=EQUITY)
    grant_token_roles(token, admin)
    holders = addresses("crowd", n)
    balances = {h: 1_000 + 7 * i for i, h in enumerate(holders)}
    hashes = [token.functions.issue(h, b).transact({"from": admin, "gas": 300_000})
              for h, b in balances.items()]
    assert w3.eth.wait_for_transaction_receipt(hashes[-1])["status"] == 1
    send(token.functions.takeSnapshot(), admin)
    send(token.functions.issue(holders[0], 5_000), admin)  # after the snapshot:
    send(token.functions.issue(addresses("late", 1)[0], 9), admin)  # not part of it
    return Crowd(token, 1, balances)


@pytest.fixture(scope="session")
def _system() -> System:
    system = deploy_system(pyevm_web3(accounts=12))
    grant_token_roles(system.bond, system.admin)
    return system


@pytest.fixture(scope="session")
def crowd(_system: System) -> Crowd:
    """Session-scoped, so it is built before `evm` takes its snapshot and survives reverts."""
    return issue_crowd(_system.w3, _system.admin)


@pytest.fixture
def evm(_system: System) -> Iterator[System]:
    """The deployed system on py-evm, reverted to its session state after the test."""
    snapshot = _system.w3.testing.snapshot()
    try:
        yield _system
    finally:
        _system.w3.testing.revert(snapshot)


@pytest.fixture(scope="session")
def anvil_w3() -> Iterator[Web3]:
    with Anvil(accounts=4) as w3:
        yield w3
