// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @notice A payment token that calls back into a target during `transfer` (a reentrancy attack).
contract ReentrantToken is ERC20 {
    address public target;
    bytes public payload;

    constructor() ERC20("Reentrant", "RE") {
        _mint(msg.sender, 1e30);
    }

    function arm(address target_, bytes calldata payload_) external {
        target = target_;
        payload = payload_;
    }

    function transfer(address to, uint256 value) public override returns (bool) {
        if (target != address(0)) {
            (bool ok, bytes memory ret) = target.call(payload);
            if (!ok) {
                assembly ("memory-safe") {
                    revert(add(ret, 0x20), mload(ret))
                }
            }
        }
        return super.transfer(to, value);
    }
}

/// @notice A payment token that returns `false` (without reverting) for one recipient, and burns gas for another.
contract QuirkyToken is ERC20 {
    address public refuses;
    address public burns;

    constructor() ERC20("Quirky", "QK") {
        _mint(msg.sender, 1e30);
    }

    function setQuirks(address refuses_, address burns_) external {
        refuses = refuses_;
        burns = burns_;
    }

    function transfer(address to, uint256 value) public override returns (bool) {
        if (to == refuses) return false;
        if (to == burns) {
            while (true) {}
        }
        return super.transfer(to, value);
    }
}
