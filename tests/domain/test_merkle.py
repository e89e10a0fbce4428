"""The Merkle commitment matches OpenZeppelin's StandardMerkleTree (sortLeaves: false)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.errors import InvalidMerkleInput
from domain.merkle import MerkleTree, PartialTree, leaf_hash, verify_multiproof

# Produced by @openzeppelin/merkle-tree 1.0.8:
# StandardMerkleTree.of(values, ["uint256","address","uint256"], {sortLeaves: false})
OZ_VALUES = [(i, "0x" + f"{i + 1:02x}" * 20, 1000 * (i + 1) + i) for i in range(7)]
OZ_ROOT = "42498f81bbfc1ca82c5cf943798a886621d4edf75f291b9b763bd5fb681bcd2f"
OZ_LEAF0 = "6f7cd746cded7900c483795a6d55613ac09d510be4f0f533234063c54ff4fbc1"
OZ_PROOF3 = ["106fb7d036fa7c8f1c77ba672c27c9048b5eb3009147df9a4f1e51849d43be2f",
             "41e849fb35d3f1d1888be6f73320712289c28d88c9ec8868224d9b747a03be38",
             "a452a2be24cebdae08b92ef568ca93c79a111a1631a3e3b0aacfdb9168a58a7f"]
OZ_MULTI_234 = (["119ae15862205ff6b70e708434efba954600e33fc913a7df7fdf3c926bcead95",
                 "a452a2be24cebdae08b92ef568ca93c79a111a1631a3e3b0aacfdb9168a58a7f"],
                [True, False, True, False])


def tree_of(n: int, seed: int = 0) -> MerkleTree:
    rng = random.Random(seed)
    return MerkleTree([leaf_hash(i, rng.randbytes(20), rng.randint(1, 10**12)) for i in range(n)])


def test_matches_openzeppelin_reference_vector():
    tree = MerkleTree([leaf_hash(*v) for v in OZ_VALUES])
    assert tree.leaf(0).hex() == OZ_LEAF0
    assert tree.root.hex() == OZ_ROOT
    assert [p.hex() for p in tree.proof(3)] == OZ_PROOF3
    mp = tree.multiproof([4, 2, 3])
    assert mp.indices == [2, 3, 4]  # ascending leaf index, as OZ orders them
    assert ([p.hex() for p in mp.proof], mp.flags) == OZ_MULTI_234


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 17, 1000])
def test_every_contiguous_range_multiproof_verifies(n):
    tree = tree_of(n, seed=n)
    rng = random.Random(n)
    for _ in range(30):
        first = rng.randrange(n)
        count = rng.randint(1, n - first)
        proof = tree.multiproof(range(first, first + count))
        assert verify_multiproof(tree.root, proof)
        # A contiguous range costs O(log n) proof hashes, not O(count log n).
        assert len(proof.proof) <= 2 * max(1, (n - 1).bit_length())


def test_a_changed_leaf_or_proof_does_not_verify():
    tree = tree_of(50)
    proof = tree.multiproof(range(10, 20))
    tampered_leaf = type(proof)(proof.indices, [leaf_hash(10, b"\x01" * 20, 5), *proof.leaves[1:]],
                                proof.proof, proof.flags)
    assert not verify_multiproof(tree.root, tampered_leaf)
    tampered_proof = type(proof)(proof.indices, proof.leaves, [b"\0" * 32, *proof.proof[1:]],
                                 proof.flags)
    assert not verify_multiproof(tree.root, tampered_proof)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 300), st.data())
def test_partial_tree_proves_any_subset_of_its_batch(n, data):
    """A worker holding only its batch (leaves + range proof) proves any unpaid subset."""
    tree = tree_of(n, seed=n)
    first = data.draw(st.integers(0, n - 1))
    count = data.draw(st.integers(1, n - first))
    leaves = [tree.leaf(i) for i in range(first, first + count)]
    partial = PartialTree(n, first, leaves, tree.range_proof(first, count), tree.root)
    subset = data.draw(st.lists(st.integers(first, first + count - 1), min_size=1, unique=True))
    proof = partial.multiproof(subset)
    assert verify_multiproof(tree.root, proof)
    assert proof == tree.multiproof(subset)


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 300), st.data())
def test_partial_tree_gives_each_leaf_of_its_batch_the_full_trees_claim_proof(n, data):
    """A claim's single-leaf proof comes from the holder's batch alone, and is the one the
    whole tree gives (the one OpenZeppelin's MerkleProof.verify takes)."""
    tree = tree_of(n, seed=n)
    first = data.draw(st.integers(0, n - 1))
    count = data.draw(st.integers(1, n - first))
    leaves = [tree.leaf(i) for i in range(first, first + count)]
    partial = PartialTree(n, first, leaves, tree.range_proof(first, count), tree.root)
    for i in range(first, first + count):
        assert partial.proof(i) == tree.proof(i)
    with pytest.raises(InvalidMerkleInput, match="outside this batch"):
        partial.proof(first + count)


def test_partial_tree_refuses_a_corrupted_batch():
    tree = tree_of(40)
    leaves = [tree.leaf(i) for i in range(8, 16)]
    leaves[3] = leaf_hash(11, b"\x02" * 20, 1)
    with pytest.raises(InvalidMerkleInput, match="do not rebuild the root"):
        PartialTree(40, 8, leaves, tree.range_proof(8, 8), tree.root)


def test_bad_input_is_a_domain_error():
    with pytest.raises(InvalidMerkleInput):
        MerkleTree([])
    with pytest.raises(InvalidMerkleInput):
        tree_of(3).multiproof([3])
    with pytest.raises(InvalidMerkleInput):
        leaf_hash(0, b"\x01" * 19, 1)
