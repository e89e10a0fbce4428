// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {PackedMultiProof} from "../PackedMultiProof.sol";

/// @notice Differential test harness: OpenZeppelin's multiproof verifier next to the vault's packed one.
contract MultiProofHarness {
    function verifyOZ(bytes32[] calldata proof, bool[] calldata flags, bytes32 root, bytes32[] calldata leaves)
        external
        pure
        returns (bool)
    {
        return MerkleProof.multiProofVerifyCalldata(proof, flags, root, leaves);
    }

    function verifyPacked(bytes32[] calldata proof, bytes calldata packedFlags, bytes32 root, bytes32[] calldata leaves)
        external
        pure
        returns (bool)
    {
        uint256 n = leaves.length;
        bytes32[] memory queue = new bytes32[](n == 0 ? 0 : n + PackedMultiProof.flagCount(n, proof.length));
        for (uint256 i = 0; i < n; ++i) {
            queue[i] = leaves[i];
        }
        (bytes32 computed, bool valid) = PackedMultiProof.processMultiProof(queue, n, proof, packedFlags);
        return valid && computed == root;
    }
}
