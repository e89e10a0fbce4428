"""Dev chains start clean, on loopback, with the gas limit and accounts the tests rely on."""

from __future__ import annotations

import pytest

from devtools.devchain import BLOCK_GAS_LIMIT, Anvil, pyevm_web3


@pytest.mark.evm
def test_pyevm_chain_is_fresh_funded_and_roomy():
    w3 = pyevm_web3(accounts=3)
    assert w3.eth.block_number == 0
    assert len(w3.eth.accounts) == 3
    assert w3.eth.get_balance(w3.eth.accounts[2]) > 10**21
    assert w3.eth.get_block("latest")["gasLimit"] >= 30_000_000


@pytest.mark.anvil
@pytest.mark.evm
def test_two_anvils_are_independent_and_stop_cleanly():
    # Two anvils run at once on different free loopback ports, each from a clean state.
    with Anvil(accounts=2) as first, Anvil(accounts=2) as second:
        assert first.provider.endpoint_uri != second.provider.endpoint_uri  # type: ignore[attr-defined]
        assert "127.0.0.1" in first.provider.endpoint_uri  # type: ignore[attr-defined]
        first.eth.send_transaction({"from": first.eth.accounts[0], "to": first.eth.accounts[1],
                                    "value": 1})
        assert first.eth.block_number == 1
        assert second.eth.block_number == 0
        assert first.eth.get_block("latest")["gasLimit"] == BLOCK_GAS_LIMIT
    # Once stopped, the node no longer answers.
    assert not first.is_connected()
