// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

/// @notice Benchmark floor: a bare loop of token transfers with no checks, same packed leaf words as the vault.
contract FloorPayer {
    function payAll(IERC20 token, bytes32[] calldata leaves) external {
        for (uint256 i = 0; i < leaves.length; ++i) {
            bytes32 w = leaves[i];
            token.transfer(address(uint160(uint256(w >> 96))), uint96(uint256(w)));
        }
    }
}
