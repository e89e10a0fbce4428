"""Our fast payBatch encoder produces exactly web3's ABI encoding."""

from __future__ import annotations

import pytest

from chain.vault import Entitlement, build_batch, encode_pay_batch
from domain.merkle import MerkleTree, leaf_hash
from tests.contracts.helpers import addresses

pytestmark = pytest.mark.evm


@pytest.mark.parametrize("subset", [range(3, 40), [3, 5, 8, 13, 21]])
def test_encode_pay_batch_equals_web3_encode_abi(pyevm, subset):
    accounts = addresses("calldata", 50)
    entries = [Entitlement(i, a, 1_000 + i) for i, a in enumerate(accounts)]
    tree = MerkleTree([leaf_hash(e.index, e.account, e.amount) for e in entries])
    proof = tree.multiproof(subset)
    call = build_batch([entries[i] for i in proof.indices], proof.proof, proof.flags)
    key = b"\x07" * 32
    ours = "0x" + encode_pay_batch(key, call).hex()
    assert ours == pyevm.vault.encode_abi("payBatch", args=list(call.args(key)))
