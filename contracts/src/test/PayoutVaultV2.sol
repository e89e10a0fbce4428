// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {PayoutVault} from "../PayoutVault.sol";

/// @notice Upgrade target for tests: same storage, one new behaviour.
contract PayoutVaultV2 is PayoutVault {
    function version() external pure override returns (uint256) {
        return 2;
    }

    function greeting() external pure returns (string memory) {
        return "v2";
    }
}
