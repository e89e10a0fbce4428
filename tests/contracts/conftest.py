"""Fixtures: a py-evm chain in process and an anvil chain, each with the system deployed once
per session and rolled back to that snapshot around every test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from web3 import Web3

from devtools.devchain import Anvil, pyevm_web3
from tests.contracts.helpers import System, deploy_system


@pytest.fixture(scope="session")
def pyevm_chain() -> Web3:
    return pyevm_web3(accounts=12)


@pytest.fixture(scope="session")
def anvil_chain() -> Iterator[Web3]:
    with Anvil(accounts=12) as w3:
        yield w3


@pytest.fixture(scope="session")
def _pyevm_system(pyevm_chain: Web3) -> System:
    return deploy_system(pyevm_chain)


@pytest.fixture(scope="session")
def _anvil_system(anvil_chain: Web3) -> System:
    return deploy_system(anvil_chain)


def _isolated(system: System) -> Iterator[System]:
    snapshot = system.w3.testing.snapshot()
    try:
        yield system
    finally:
        system.w3.testing.revert(snapshot)


@pytest.fixture
def pyevm(_pyevm_system: System) -> Iterator[System]:
    """The deployed system on py-evm, reverted to its fresh state after the test."""
    yield from _isolated(_pyevm_system)


@pytest.fixture
def anvil(_anvil_system: System) -> Iterator[System]:
    """The deployed system on anvil, reverted to its fresh state after the test."""
    yield from _isolated(_anvil_system)


@pytest.fixture(params=["pyevm", pytest.param("anvil", marks=pytest.mark.anvil)])
def system(request: pytest.FixtureRequest) -> System:
    """The same test on both EVMs."""
    fixture: System = request.getfixturevalue(request.param)
    return fixture
