// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

/// @notice What the cash-out floor needs from a security token (as PayoutVault's IControllerRedeem).
interface IRedeemable {
    function controllerRedeem(address tokenHolder, uint256 value, bytes calldata data, bytes calldata operatorData)
        external;
}

/// @notice Benchmark floor: a bare loop of token transfers with no checks, same packed leaf words as the vault.
contract FloorPayer {
    function payAll(IERC20 token, bytes32[] calldata leaves) external {
        for (uint256 i = 0; i < leaves.length; ++i) {
            bytes32 w = leaves[i];
            token.transfer(address(uint160(uint256(w >> 96))), uint96(uint256(w)));
        }
    }

    /// @notice The cash-out floor: per leaf (account, units) a bare redeem then a transfer of the
    /// principal, as `cashOut` computes it, with no proof, bitmap, cap or failure isolation.
    function redeemAndPayAll(
        IERC20 token,
        IRedeemable asset,
        uint256 principalPerUnit,
        uint256 unitScale,
        bytes32[] calldata leaves
    ) external {
        for (uint256 i = 0; i < leaves.length; ++i) {
            bytes32 w = leaves[i];
            address account = address(uint160(uint256(w >> 96)));
            uint256 units = uint96(uint256(w));
            asset.controllerRedeem(account, units, "", "");
            token.transfer(account, units * principalPerUnit / unitScale);
        }
    }
}
