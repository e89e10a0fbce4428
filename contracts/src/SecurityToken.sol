// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {Checkpoints} from "@openzeppelin/contracts/utils/structs/Checkpoints.sol";

/**
 * @title SecurityToken
 * @notice Reference security token: the ATS-compatible subset Mass Payout imports from.
 *
 * Snapshots are exact and cheap to page: every balance, the holder count and every holder *position*
 * are checkpointed by snapshot id. Live holders form a dense array (a leaving holder is replaced by
 * the last one), and a snapshot reads that array as it was, so `getTokenHoldersAtSnapshot` pages
 * return exactly the holders with a non-zero balance at the snapshot, each once, in O(pageLength).
 * A checkpoint written while `currentSnapshotId == s` has key `s + 1`: it is part of snapshot s + 1
 * and later ones, not of s.
 */
contract SecurityToken is ERC20, AccessControl {
    using Checkpoints for Checkpoints.Trace208;

    enum Kind {
        EQUITY,
        BOND
    }

    enum ActionKind {
        DIVIDEND,
        COUPON
    }

    struct CorporateAction {
        ActionKind kind;
        uint256 recordDate;
        uint256 executionDate;
        uint256 amountPerUnit; // payment-token units per whole token
        uint256 snapshotId; // 0 until taken at or after the record date
    }

    bytes32 public constant ISSUER_ROLE = keccak256("ISSUER_ROLE");
    bytes32 public constant CONTROLLER_ROLE = keccak256("CONTROLLER_ROLE");
    bytes32 public constant CORPORATE_ACTION_ROLE = keccak256("CORPORATE_ACTION_ROLE");

    uint8 private immutable _decimals;
    Kind public immutable kind;
    uint256 public maturityDate;
    uint256 public nominalValue; // payment-token units per whole token, at maturity

    uint48 private _snapshotId;
    mapping(address => Checkpoints.Trace208) private _balanceAt;
    Checkpoints.Trace208 private _supplyAt;
    Checkpoints.Trace208 private _holderCount;
    mapping(uint256 => Checkpoints.Trace208) private _holderAt; // 1-based position => address
    mapping(address => uint256) private _position;
    CorporateAction[] private _actions;

    event SnapshotTaken(uint256 indexed snapshotId);
    event CorporateActionSet(uint256 indexed actionId, ActionKind kind, uint256 recordDate, uint256 executionDate, uint256 amountPerUnit);
    event ControllerRedemption(address indexed controller, address indexed tokenHolder, uint256 value, bytes data, bytes operatorData);

    error UnknownSnapshot(uint256 snapshotId);
    error UnknownAction(uint256 actionId);
    error RecordDateNotReached(uint256 actionId, uint256 recordDate);
    error SnapshotAlreadyTaken(uint256 actionId, uint256 snapshotId);
    error NotABond();
    error LengthMismatch(uint256 accounts, uint256 values);

    constructor(string memory name_, string memory symbol_, uint8 decimals_, Kind kind_, uint256 maturityDate_, uint256 nominalValue_, address admin)
        ERC20(name_, symbol_)
    {
        _decimals = decimals_;
        kind = kind_;
        maturityDate = maturityDate_;
        nominalValue = nominalValue_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    function decimals() public view override returns (uint8) {
        return _decimals;
    }

    // ------------------------------------------------------------------ issuance and redemption

    function issue(address to, uint256 value) external onlyRole(ISSUER_ROLE) {
        _mint(to, value);
    }

    /// @notice Issues to many holders in one transaction (initial allocation, demos, tests).
    function issueBatch(address[] calldata to, uint256[] calldata values) external onlyRole(ISSUER_ROLE) {
        if (to.length != values.length) revert LengthMismatch(to.length, values.length);
        for (uint256 i; i < to.length; ++i) {
            _mint(to[i], values[i]);
        }
    }

    /// @notice Forced redemption by a controller (ERC-1594 style); the PayoutVault uses it at cash-out.
    function controllerRedeem(address tokenHolder, uint256 value, bytes calldata data, bytes calldata operatorData)
        external
        onlyRole(CONTROLLER_ROLE)
    {
        if (kind != Kind.BOND) revert NotABond();
        _burn(tokenHolder, value);
        emit ControllerRedemption(msg.sender, tokenHolder, value, data, operatorData);
    }

    // ------------------------------------------------------------------ snapshots

    function takeSnapshot() public onlyRole(CORPORATE_ACTION_ROLE) returns (uint256) {
        uint48 id = ++_snapshotId;
        emit SnapshotTaken(id);
        return id;
    }

    function currentSnapshotId() external view returns (uint256) {
        return _snapshotId;
    }

    function balanceOfAtSnapshot(uint256 snapshotId, address account) external view returns (uint256) {
        return _balanceAt[account].upperLookup(_checkSnapshot(snapshotId));
    }

    function totalSupplyAtSnapshot(uint256 snapshotId) external view returns (uint256) {
        return _supplyAt.upperLookup(_checkSnapshot(snapshotId));
    }

    function getTotalTokenHoldersAtSnapshot(uint256 snapshotId) external view returns (uint256) {
        return _holderCount.upperLookup(_checkSnapshot(snapshotId));
    }

    function getTokenHoldersAtSnapshot(uint256 snapshotId, uint256 pageIndex, uint256 pageLength)
        external
        view
        returns (address[] memory holders)
    {
        uint48 key = _checkSnapshot(snapshotId);
        (uint256 start, uint256 end) = _page(_holderCount.upperLookup(key), pageIndex, pageLength);
        holders = new address[](end - start);
        for (uint256 i = start; i < end; ++i) {
            holders[i - start] = address(uint160(_holderAt[i + 1].upperLookup(key)));
        }
    }

    function getTotalTokenHolders() external view returns (uint256) {
        return _holderCount.latest();
    }

    function getTokenHolders(uint256 pageIndex, uint256 pageLength) external view returns (address[] memory holders) {
        (uint256 start, uint256 end) = _page(_holderCount.latest(), pageIndex, pageLength);
        holders = new address[](end - start);
        for (uint256 i = start; i < end; ++i) {
            holders[i - start] = address(uint160(_holderAt[i + 1].latest()));
        }
    }

    // ------------------------------------------------------------------ corporate actions

    function setDividend(uint256 recordDate, uint256 executionDate, uint256 amountPerUnit)
        external
        onlyRole(CORPORATE_ACTION_ROLE)
        returns (uint256)
    {
        return _setAction(ActionKind.DIVIDEND, recordDate, executionDate, amountPerUnit);
    }

    function setCoupon(uint256 recordDate, uint256 executionDate, uint256 rate)
        external
        onlyRole(CORPORATE_ACTION_ROLE)
        returns (uint256)
    {
        if (kind != Kind.BOND) revert NotABond();
        return _setAction(ActionKind.COUPON, recordDate, executionDate, rate);
    }

    /// @notice Freezes the holders of an action once its record date has passed; callable by anyone, once.
    function takeActionSnapshot(uint256 actionId) external returns (uint256) {
        if (actionId >= _actions.length) revert UnknownAction(actionId);
        CorporateAction storage a = _actions[actionId];
        if (block.timestamp < a.recordDate) revert RecordDateNotReached(actionId, a.recordDate);
        if (a.snapshotId != 0) revert SnapshotAlreadyTaken(actionId, a.snapshotId);
        uint48 id = ++_snapshotId;
        a.snapshotId = id;
        emit SnapshotTaken(id);
        return id;
    }

    function getCorporateAction(uint256 actionId) external view returns (CorporateAction memory) {
        if (actionId >= _actions.length) revert UnknownAction(actionId);
        return _actions[actionId];
    }

    function getCorporateActionCount() external view returns (uint256) {
        return _actions.length;
    }

    // ------------------------------------------------------------------ internals

    function _setAction(ActionKind k, uint256 recordDate, uint256 executionDate, uint256 amount) private returns (uint256 id) {
        id = _actions.length;
        _actions.push(CorporateAction(k, recordDate, executionDate, amount, 0));
        emit CorporateActionSet(id, k, recordDate, executionDate, amount);
    }

    function _update(address from, address to, uint256 value) internal override {
        super._update(from, to, value);
        uint48 key = _snapshotId + 1;
        if (from != address(0)) _record(from, key);
        if (to != address(0) && to != from) _record(to, key);
        _supplyAt.push(key, uint208(totalSupply()));
    }

    function _record(address account, uint48 key) private {
        uint256 balance = balanceOf(account);
        _balanceAt[account].push(key, uint208(balance));
        uint256 pos = _position[account];
        if (balance > 0 && pos == 0) {
            uint256 count = _holderCount.latest() + 1;
            _holderCount.push(key, uint208(count));
            _holderAt[count].push(key, uint208(uint160(account)));
            _position[account] = count;
        } else if (balance == 0 && pos != 0) {
            uint256 last = _holderCount.latest();
            if (pos != last) {
                address moved = address(uint160(_holderAt[last].latest()));
                _holderAt[pos].push(key, uint208(uint160(moved)));
                _position[moved] = pos;
            }
            _holderAt[last].push(key, 0);
            _holderCount.push(key, uint208(last - 1));
            _position[account] = 0;
        }
    }

    function _checkSnapshot(uint256 snapshotId) private view returns (uint48) {
        if (snapshotId == 0 || snapshotId > _snapshotId) revert UnknownSnapshot(snapshotId);
        return uint48(snapshotId);
    }

    function _page(uint256 total, uint256 pageIndex, uint256 pageLength) private pure returns (uint256 start, uint256 end) {
        start = pageIndex * pageLength;
        if (start > total) start = total;
        end = start + pageLength > total ? total : start + pageLength;
    }
}
