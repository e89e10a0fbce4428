// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";

/**
 * @title Stablecoin
 * @notice Test payment token: 6 decimals, owner mint, and a USDC-style blocklist so that a failing
 * recipient can be simulated. As in USDC v2.2, the blocked flag lives in the top bit of the balance
 * word, so a transfer touches no extra storage slot and its gas equals a plain ERC-20's.
 */
contract Stablecoin is IERC20Metadata {
    uint256 private constant BLOCKED = 1 << 255;
    uint256 private constant BALANCE = BLOCKED - 1;

    address public immutable owner;
    string public name;
    string public symbol;
    uint256 public totalSupply;
    mapping(address => uint256) private _balanceAndBlocked;
    mapping(address => mapping(address => uint256)) public allowance;

    event Blocked(address indexed account, bool blocked);

    error NotOwner(address caller);
    error AccountBlocked(address account);
    error InsufficientBalance(address account, uint256 balance, uint256 needed);
    error InsufficientAllowance(address spender, uint256 allowance, uint256 needed);

    constructor(string memory name_, string memory symbol_) {
        owner = msg.sender;
        name = name_;
        symbol = symbol_;
    }

    function decimals() external pure returns (uint8) {
        return 6;
    }

    function balanceOf(address account) external view returns (uint256) {
        return _balanceAndBlocked[account] & BALANCE;
    }

    function isBlocked(address account) external view returns (bool) {
        return _balanceAndBlocked[account] & BLOCKED != 0;
    }

    function mint(address to, uint256 amount) external {
        if (msg.sender != owner) revert NotOwner(msg.sender);
        totalSupply += amount;
        if ((_balanceAndBlocked[to] & BALANCE) + amount > BALANCE) revert InsufficientBalance(to, 0, amount);
        _balanceAndBlocked[to] += amount;
        emit Transfer(address(0), to, amount);
    }

    /// @notice Gives `amount` to each of `to` (test and benchmark setup).
    function mintMany(address[] calldata to, uint256 amount) external {
        if (msg.sender != owner) revert NotOwner(msg.sender);
        totalSupply += amount * to.length;
        for (uint256 i = 0; i < to.length; ++i) {
            _balanceAndBlocked[to[i]] += amount;
            emit Transfer(address(0), to[i], amount);
        }
    }

    function setBlocked(address account, bool blocked) external {
        if (msg.sender != owner) revert NotOwner(msg.sender);
        uint256 word = _balanceAndBlocked[account];
        _balanceAndBlocked[account] = blocked ? word | BLOCKED : word & BALANCE;
        emit Blocked(account, blocked);
    }

    function transfer(address to, uint256 amount) external returns (bool) {
        _transfer(msg.sender, to, amount);
        return true;
    }

    function approve(address spender, uint256 amount) external returns (bool) {
        allowance[msg.sender][spender] = amount;
        emit Approval(msg.sender, spender, amount);
        return true;
    }

    function transferFrom(address from, address to, uint256 amount) external returns (bool) {
        uint256 allowed = allowance[from][msg.sender];
        if (allowed != type(uint256).max) {
            if (allowed < amount) revert InsufficientAllowance(msg.sender, allowed, amount);
            allowance[from][msg.sender] = allowed - amount;
        }
        _transfer(from, to, amount);
        return true;
    }

    function _transfer(address from, address to, uint256 amount) private {
        uint256 fromWord = _balanceAndBlocked[from];
        if (fromWord & BLOCKED != 0) revert AccountBlocked(from);
        if (fromWord < amount) revert InsufficientBalance(from, fromWord, amount);
        uint256 toWord = _balanceAndBlocked[to];
        if (toWord & BLOCKED != 0) revert AccountBlocked(to);
        unchecked {
            _balanceAndBlocked[from] = fromWord - amount;
        }
        // Cannot overflow into the flag: total supply is far below 2**255.
        _balanceAndBlocked[to] += amount;
        emit Transfer(from, to, amount);
    }
}
