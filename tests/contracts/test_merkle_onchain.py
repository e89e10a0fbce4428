"""The ledger's Merkle roots, proofs and multiproofs (domain.merkle) verify on-chain.

Two checks per tree: the vault itself accepts the ledger's batches (multiproofs) and claims
(single proofs), and MultiProofHarness shows the vault's packed verifier agrees with
OpenZeppelin's `multiProofVerify` on valid and corrupted proofs alike.
"""

from __future__ import annotations

import random

import pytest

from chain.contracts import call, deploy
from chain.errors import ContractRevertError
from chain.vault import build_batch, claim, pack_flags, pay_batch
from domain.merkle import PartialTree
from tests.contracts.helpers import addresses, balance, make_dist, paid_indices

pytestmark = pytest.mark.evm


@pytest.fixture
def harness(system):
    return deploy(system.w3, "MultiProofHarness", sender=system.admin)


def _agree(harness, root, leaves, proof, flags):
    """Both verifiers' answers (a revert counts as a rejection); asserts they are equal."""
    rejection = None
    try:
        oz = call(harness.functions.verifyOZ(proof, flags, root, leaves))
    except ContractRevertError as err:
        rejection, oz = err, False
    # OpenZeppelin rejects a malformed proof by reverting, or by an out-of-bounds panic.
    assert rejection is None or rejection.name == "MerkleProofInvalidMultiproof" \
        or rejection.values == (0x32,), rejection
    packed = call(harness.functions.verifyPacked(proof, pack_flags(flags), root, leaves))
    assert oz == packed, (len(leaves), len(proof), flags)
    return packed


def _corruptions(rng, leaves, proof, flags):
    """Plausible ways a proof goes wrong: each must be rejected by both verifiers."""
    if proof:
        bad = list(proof)
        bad[rng.randrange(len(bad))] = rng.randbytes(32)
        yield leaves, bad, flags
        yield leaves, proof[:-1], flags
    if flags:
        bad_flags = list(flags)
        bad_flags[rng.randrange(len(bad_flags))] ^= True
        yield leaves, proof, bad_flags
    bad_leaves = list(leaves)
    bad_leaves[rng.randrange(len(bad_leaves))] = rng.randbytes(32)
    yield bad_leaves, proof, flags


def _check_tree(system, harness, size, rng, *, batches, max_batch, claims):
    # A distribution of `size` leaves is committed with the ledger's root.
    dist = make_dist(system, [rng.randrange(1, 10**9) for _ in range(size)],
                     accounts=addresses(f"tree{size}-{rng.random()}", size))
    dist.announce()
    tree = dist.tree
    # Random contiguous ranges: the harness agrees with OpenZeppelin on valid and bad proofs.
    for _ in range(4):
        count = rng.randint(1, min(size, max_batch))
        first = rng.randrange(size - count + 1)
        mp = tree.multiproof(range(first, first + count))
        assert _agree(harness, tree.root, mp.leaves, mp.proof, mp.flags)
        for leaves, proof, flags in _corruptions(rng, mp.leaves, mp.proof, mp.flags):
            assert not _agree(harness, tree.root, leaves, proof, flags)
        # Leaves out of order may or may not verify (hashing is commutative); both must agree.
        _agree(harness, tree.root, mp.leaves[::-1], mp.proof, mp.flags)
    # Random non-contiguous subsets agree too.
    subset = sorted(rng.sample(range(size), min(size, 7)))
    mp = tree.multiproof(subset)
    assert _agree(harness, tree.root, mp.leaves, mp.proof, mp.flags)
    # The vault pays random disjoint contiguous ranges with the ledger's multiproofs.
    starts = sorted(rng.sample(range(size), min(batches, size)))
    paid: list[int] = []
    for k, first in enumerate(starts):
        end = starts[k + 1] if k + 1 < len(starts) else size
        count = rng.randint(1, min(end - first, max_batch))
        receipt = dist.pay_range(first, count)
        assert paid_indices(receipt, system.vault) == list(range(first, first + count))
        paid += range(first, first + count)
    # Single proofs pay through claim for leaves the batches left out.
    unpaid = sorted(set(range(size)) - set(paid))
    for index in rng.sample(unpaid, min(claims, len(unpaid))):
        entry = dist.entries[index]
        claim(system.vault, system.outsider, dist.id, entry, tree.proof(index))
        assert balance(system, entry.account) == entry.amount
    return dist


@pytest.mark.parametrize("size", [1, 2, 3, 5, 8, 13])
def test_small_trees_verify_on_chain(system, harness, size):
    _check_tree(system, harness, size, random.Random(size), batches=2, max_batch=size, claims=2)


def test_a_thousand_leaf_tree_verifies_on_chain(system, harness):
    _check_tree(system, harness, 1_000, random.Random(1_000), batches=3, max_batch=40, claims=2)


@pytest.mark.slow
@pytest.mark.anvil
def test_a_hundred_thousand_leaf_tree_verifies_on_chain(anvil):
    harness = deploy(anvil.w3, "MultiProofHarness", sender=anvil.admin)
    _check_tree(anvil, harness, 100_000, random.Random(100_000), batches=4, max_batch=300,
                claims=3)


def test_a_worker_proves_only_the_unpaid_part_of_its_batch(system):
    # Batch [100, 164) of a 300-leaf distribution was partly paid by a lost attempt.
    dist = make_dist(system, [1_000] * 300, accounts=addresses("partial", 300))
    dist.announce()
    dist.pay([101, 120, 121, 163])
    # The worker knows only its batch's leaves and range proof (PartialTree), reads the bitmap,
    # and proves just the unpaid leaves.
    first, count = 100, 64
    partial = PartialTree(300, first, [dist.tree.leaf(i) for i in range(first, first + count)],
                          dist.tree.range_proof(first, count), dist.tree.root)
    unpaid = [i for i in range(first, first + count)
              if not call(system.vault.functions.isPaid(dist.id, i))]
    mp = partial.multiproof(unpaid)
    receipt = pay_batch(system.vault, system.operator, dist.id,
                        build_batch([dist.entries[i] for i in mp.indices], mp.proof, mp.flags))
    # Exactly the 60 unpaid leaves are paid, none twice.
    assert paid_indices(receipt, system.vault) == unpaid
    assert call(system.vault.functions.paidAmount(dist.id)) == 64 * 1_000
