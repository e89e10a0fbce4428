// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

// Compiled so that its artifact is committed: the PayoutVault is deployed behind it (UUPS).
import {ERC1967Proxy} from "@openzeppelin/contracts/proxy/ERC1967/ERC1967Proxy.sol";
