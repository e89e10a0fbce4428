"""Merkle commitment of a distribution's entitlements, OpenZeppelin StandardMerkleTree format.

Leaves are `keccak256(keccak256(abi.encode(uint256 index, address account, uint256 amount)))`
and inner nodes hash their sorted pair, exactly as OpenZeppelin's `MerkleProof` verifies.
One deliberate difference from `StandardMerkleTree.of`: leaves are *not* sorted by hash
(`sortLeaves: false`). Our leaves are already in a deterministic index order, and keeping that
order places a contiguous batch of leaves in a near-contiguous part of the tree, so its
multiproof needs O(log n) hashes instead of O(k log n). On-chain that is the difference
between a few hundred gas and several thousand gas per holder.

The array layout follows OpenZeppelin's `makeMerkleTree`: `tree[len - 1 - i]` is leaf i, and
node j has children 2j+1 and 2j+2. Proof algorithms are ports of `@openzeppelin/merkle-tree`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import sha3

from domain.errors import InvalidMerkleInput


def keccak(data: bytes) -> bytes:
    return sha3.keccak_256(data).digest()  # type: ignore[no-any-return]


def leaf_hash(index: int, account: str | bytes, amount: int) -> bytes:
    """Double keccak of `abi.encode(uint256, address, uint256)`, as StandardMerkleTree does."""
    address = bytes.fromhex(account[2:]) if isinstance(account, str) else account
    if len(address) != 20:
        raise InvalidMerkleInput(f"an address has 20 bytes, got {len(address)}")
    encoded = index.to_bytes(32, "big") + b"\0" * 12 + address + amount.to_bytes(32, "big")
    return keccak(keccak(encoded))


def hash_pair(a: bytes, b: bytes) -> bytes:
    return keccak(a + b if a < b else b + a)


@dataclass(frozen=True, slots=True)
class MultiProof:
    """What `MerkleProof.multiProofVerify(proof, flags, root, leaves)` takes, plus our indices.

    `indices` and `leaves` run in ascending leaf index, the order OpenZeppelin's
    `getMultiProof` yields (descending tree position).
    """

    indices: list[int]
    leaves: list[bytes]
    proof: list[bytes]
    flags: list[bool]


def _sibling(j: int) -> int:
    return j + 1 if j % 2 else j - 1


def _parent(j: int) -> int:
    return (j - 1) // 2


def _multiproof(nodes: Mapping[int, bytes] | Sequence[bytes], size: int,
                leaf_indices: Iterable[int]) -> MultiProof:
    """OpenZeppelin's `getMultiProof` over a full tree or over the nodes a partial tree knows."""
    positions = sorted({size - 1 - _leaf_position_check(i, size) for i in leaf_indices},
                       reverse=True)
    if not positions:
        raise InvalidMerkleInput("a multiproof needs at least one leaf")
    stack = list(positions)
    proof: list[bytes] = []
    flags: list[bool] = []
    head = 0  # stack is consumed from the front; an index avoids O(n) pops
    while head < len(stack) and stack[head] > 0:
        j = stack[head]
        head += 1
        s = _sibling(j)
        if head < len(stack) and stack[head] == s:
            flags.append(True)
            head += 1
        else:
            flags.append(False)
            proof.append(nodes[s])
        stack.append(_parent(j))
    return MultiProof(
        indices=[size - 1 - p for p in positions],
        leaves=[nodes[p] for p in positions],
        proof=proof,
        flags=flags,
    )


def _leaf_position_check(index: int, size: int) -> int:
    leaf_count = (size + 1) // 2
    if not 0 <= index < leaf_count:
        raise InvalidMerkleInput(f"leaf {index} is outside a tree of {leaf_count} leaves")
    return index


class MerkleTree:
    """The whole tree as one flat list of 2n-1 nodes (32 bytes each: 6.4 MB at 100k leaves)."""

    def __init__(self, leaf_hashes: Sequence[bytes]) -> None:
        n = len(leaf_hashes)
        if n == 0:
            raise InvalidMerkleInput("a Merkle tree needs at least one leaf")
        tree: list[bytes] = [b""] * (n - 1)
        tree.extend(reversed(leaf_hashes))
        for j in range(n - 2, -1, -1):
            left, right = tree[2 * j + 1], tree[2 * j + 2]
            tree[j] = keccak(left + right if left < right else right + left)
        self._tree = tree

    @property
    def root(self) -> bytes:
        return self._tree[0]

    @property
    def leaf_count(self) -> int:
        return (len(self._tree) + 1) // 2

    def leaf(self, index: int) -> bytes:
        return self._tree[len(self._tree) - 1 - _leaf_position_check(index, len(self._tree))]

    def proof(self, index: int) -> list[bytes]:
        j = len(self._tree) - 1 - _leaf_position_check(index, len(self._tree))
        path = []
        while j > 0:
            path.append(self._tree[_sibling(j)])
            j = _parent(j)
        return path

    def multiproof(self, indices: Iterable[int]) -> MultiProof:
        return _multiproof(self._tree, len(self._tree), indices)

    def range_proof(self, first: int, count: int) -> list[bytes]:
        """The hashes a batch of leaves [first, first+count) cannot derive from itself."""
        return self.multiproof(range(first, first + count)).proof


class PartialTree:
    """The part of a tree a batch can know: its own leaves plus its range proof.

    A worker that finds some of its batch's leaves already paid on-chain must prove only the
    unpaid subset. Every node that subset's multiproof needs is either derivable from the
    batch's leaves or one of the batch's range-proof hashes, so the worker can build any
    subset proof without loading the other 99,000 leaves. The rebuilt root is checked against
    the committed one, which also catches a corrupted batch before anything is sent.
    """

    def __init__(self, leaf_count: int, first: int, leaf_hashes: Sequence[bytes],
                 range_proof: Sequence[bytes], expected_root: bytes) -> None:
        size = 2 * leaf_count - 1
        nodes: dict[int, bytes] = {
            size - 1 - (first + k): h for k, h in enumerate(leaf_hashes)
        }
        positions = sorted(nodes, reverse=True)
        stack, head, used = list(positions), 0, 0
        while head < len(stack) and stack[head] > 0:
            j = stack[head]
            head += 1
            s = _sibling(j)
            if head < len(stack) and stack[head] == s:
                head += 1
            else:
                if used >= len(range_proof):
                    raise InvalidMerkleInput("the range proof is too short for this batch")
                nodes[s] = range_proof[used]
                used += 1
            p = _parent(j)
            nodes[p] = hash_pair(nodes[j], nodes[s])
            stack.append(p)
        if used != len(range_proof) or nodes.get(0) != expected_root:
            raise InvalidMerkleInput("the batch's leaves and proof do not rebuild the root")
        self._nodes = nodes
        self._size = size
        self._first = first
        self._count = len(leaf_hashes)

    def multiproof(self, indices: Iterable[int]) -> MultiProof:
        wanted = list(indices)
        outside = [i for i in wanted if not self._first <= i < self._first + self._count]
        if outside:
            raise InvalidMerkleInput(f"leaves {outside[:5]} are outside this batch")
        return _multiproof(self._nodes, self._size, wanted)

    def proof(self, index: int) -> list[bytes]:
        """The single-leaf proof `MerkleProof.verify` takes (a claim's), from this batch alone.

        Every node on a batch leaf's path to the root is derived while rebuilding the root, so
        each sibling on it is either derived too or one of the range-proof hashes: all known.
        """
        if not self._first <= index < self._first + self._count:
            raise InvalidMerkleInput(f"leaf {index} is outside this batch")
        j = self._size - 1 - index
        path = []
        while j > 0:
            path.append(self._nodes[_sibling(j)])
            j = _parent(j)
        return path


def verify_multiproof(root: bytes, proof: MultiProof) -> bool:
    """OpenZeppelin's `processMultiProof`, for checking before anything is sent on-chain."""
    leaves, hashes = proof.leaves, proof.proof
    total = len(proof.flags)
    if len(leaves) + len(hashes) != total + 1:
        return False
    queue: list[bytes] = []
    leaf_pos = hash_pos = proof_pos = 0
    for flag in proof.flags:
        def take() -> bytes:
            nonlocal leaf_pos, hash_pos
            if leaf_pos < len(leaves):
                leaf_pos += 1
                return leaves[leaf_pos - 1]
            hash_pos += 1
            return queue[hash_pos - 1]
        a = take()
        if flag:
            b = take()
        else:
            b = hashes[proof_pos]
            proof_pos += 1
        queue.append(hash_pair(a, b))
    if total > 0:
        return queue[total - 1] == root
    if leaves:
        return leaves[0] == root
    return hashes[0] == root
