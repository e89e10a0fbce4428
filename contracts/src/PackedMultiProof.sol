// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

/**
 * @title PackedMultiProof
 * @notice OpenZeppelin's `MerkleProof.processMultiProof` algorithm over the same proofs, with two
 * calldata/memory savings that matter when it runs once per holder:
 *  - the flags arrive bit-packed (flag i is bit `i % 8` of byte `i / 8`), 1 bit instead of a
 *    32-byte `bool` each, and are read in place;
 *  - the queue is one buffer `[leaves..., hashes...]`: OpenZeppelin's "next leaf, else next hash"
 *    is then simply "next queue entry", and the leaf hashes are written straight into it.
 * It accepts exactly the multiproofs OpenZeppelin accepts, except ones that read a hash before
 * it is computed (OpenZeppelin reads it as zero); `getMultiProof` never produces those. A
 * differential test against OpenZeppelin's implementation (MultiProofHarness) keeps them equal.
 */
library PackedMultiProof {
    /// @notice Flags needed by `leaves` leaves and `proofLen` proof hashes (OZ: leaves + proof == flags + 1).
    function flagCount(uint256 leaves, uint256 proofLen) internal pure returns (uint256) {
        return leaves + proofLen - 1;
    }

    /// @notice `queue` holds the leaves in `[0, leaves)` and has room for `flagCount` hashes after them.
    function processMultiProof(
        bytes32[] memory queue,
        uint256 leaves,
        bytes32[] calldata proof,
        bytes calldata packedFlags
    ) internal pure returns (bytes32 root, bool valid) {
        if (leaves == 0) return (bytes32(0), false);
        uint256 flags = flagCount(leaves, proof.length);
        if (packedFlags.length != (flags + 7) >> 3 || queue.length < leaves + flags) {
            return (bytes32(0), false);
        }
        assembly ("memory-safe") {
            let base := add(queue, 0x20)
            let q := 0
            let p := 0
            let proofLen := proof.length
            valid := 1
            for { let i := 0 } lt(i, flags) { i := add(i, 1) } {
                let w := add(leaves, i) // where hash i goes; only entries before it may be read
                if iszero(lt(q, w)) {
                    valid := 0
                    break
                }
                let a := mload(add(base, shl(5, q)))
                q := add(q, 1)
                let b := 0
                switch and(shr(and(i, 7), byte(0, calldataload(add(packedFlags.offset, shr(3, i))))), 1)
                case 1 {
                    if iszero(lt(q, w)) {
                        valid := 0
                        break
                    }
                    b := mload(add(base, shl(5, q)))
                    q := add(q, 1)
                }
                default {
                    if iszero(lt(p, proofLen)) {
                        valid := 0
                        break
                    }
                    b := calldataload(add(proof.offset, shl(5, p)))
                    p := add(p, 1)
                }
                // Hashes.commutativeKeccak256
                switch lt(a, b)
                case 1 {
                    mstore(0, a)
                    mstore(0x20, b)
                }
                default {
                    mstore(0, b)
                    mstore(0x20, a)
                }
                mstore(add(base, shl(5, w)), keccak256(0, 0x40))
            }
            if iszero(eq(p, proofLen)) { valid := 0 }
            switch flags
            case 0 { root := mload(base) }
            default { root := mload(add(base, shl(5, add(leaves, sub(flags, 1))))) }
        }
    }
}
