"""Network profiles: which chain each runs on, and batches sized by gas AND calldata bytes."""

from __future__ import annotations

import pytest

from chain.vault import BatchCall, encode_pay_batch, pack_flags
from domain.errors import InvalidInput
from domain.network import HEDERA_CALL_DATA_LIMIT, NetworkMismatch, network_profile
from domain.planning import GasModel


def test_each_profile_runs_only_on_its_chain():
    network_profile("hedera-mainnet").check_chain(295)
    network_profile("evm").check_chain(31337)
    # A Hedera profile on another chain, and the generic one on any of Hedera's, are refused.
    with pytest.raises(NetworkMismatch, match="runs on chain 296"):
        network_profile("hedera-testnet").check_chain(295)
    for chain_id, name in ((295, "hedera-mainnet"), (298, "hedera-local")):
        with pytest.raises(NetworkMismatch, match=f"CHAIN_NETWORK={name}"):
            network_profile("evm").check_chain(chain_id)
    with pytest.raises(InvalidInput):
        network_profile("hedera")


def test_the_generic_profile_plans_as_before_and_hedera_adds_the_relay_limits():
    assert GasModel.for_network(network_profile("evm")) == GasModel()
    hedera = GasModel.for_network(network_profile("hedera-mainnet"))
    assert (hedera.budget, hedera.max_calldata_bytes) == (GasModel().budget,
                                                          HEDERA_CALL_DATA_LIMIT)


@pytest.mark.parametrize(("leaves", "leaf_count"), [(1, 1), (7, 100), (417, 100_000),
                                                    (3_000, 10**6)])
def test_the_calldata_model_is_the_encoded_size_of_a_resubmission(leaves, leaf_count):
    # payBatch as the worker encodes it, naming every index (a resubmission: the largest form).
    model = GasModel()
    proof = model.proof_hashes(leaf_count)
    batch = BatchCall(first_index=0, indices=b"\0" * (4 * leaves), leaves=[b"\1" * 32] * leaves,
                      proof=[b"\2" * 32] * proof, proof_flags=pack_flags([True] * (
                          leaves + proof - 1)))
    assert len(encode_pay_batch(b"\3" * 32, batch)) == model.calldata_bytes(leaves, leaf_count)


def test_a_batch_is_cut_by_calldata_bytes_when_they_bind_before_gas():
    # Cheap leaves: 12M gas would fit 12,000 of them, 128 KiB of calldata fits far fewer.
    cheap = GasModel(per_leaf=1_000, max_holders_per_batch=20_000,
                     max_calldata_bytes=HEDERA_CALL_DATA_LIMIT)
    by_gas = GasModel(per_leaf=1_000, max_holders_per_batch=20_000).capacity(10**6)
    n = cheap.capacity(10**6)
    assert n < by_gas
    assert cheap.calldata_bytes(n, 10**6) <= HEDERA_CALL_DATA_LIMIT
    assert cheap.calldata_bytes(n + 1, 10**6) > HEDERA_CALL_DATA_LIMIT
    # The default model on Hedera is bound by gas: the same batches as on any EVM chain.
    hedera = GasModel.for_network(network_profile("hedera-mainnet"))
    assert hedera.capacity(100_000) == GasModel().capacity(100_000)
    with pytest.raises(InvalidInput, match="calldata limit does not fit"):
        GasModel(max_calldata_bytes=400).capacity(100)
