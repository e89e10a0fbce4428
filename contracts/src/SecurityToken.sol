// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {Checkpoints} from "@openzeppelin/contracts/utils/structs/Checkpoints.sol";

/**
 * @title SecurityToken
 * @notice Reference security token: the subset of the Asset Tokenization Studio (ATS) external
 * interface Mass Payout reads, with the SAME signatures and struct layouts (ISnapshots, IERC20's
 * getERC20Metadata, IDividend, ICoupon, IBondRead, IEquity, ISecurity, and
 * IScheduledCrossOrderedTasks' trigger), so one adapter (chain/ats_abi.py) reads both this token
 * and a genuine ATS diamond. It is one contract, not a diamond: it has no getConfigInfo(), which
 * is how the adapter tells the two apart.
 *
 * Snapshots are exact and cheap to page: every balance, the holder count and every holder *position*
 * are checkpointed by snapshot id. Live holders form a dense array (a leaving holder is replaced by
 * the last one), and a snapshot reads that array as it was, so `getTokenHoldersAtSnapshot` pages
 * return exactly the holders with a non-zero balance at the snapshot, each once, in O(pageLength).
 * A checkpoint written while `currentSnapshotId == s` has key `s + 1`: it is part of snapshot s + 1
 * and later ones, not of s.
 *
 * As in ATS, a dividend's or coupon's snapshot is taken at its record date: by the first balance
 * change after it, or by anyone calling `triggerPendingScheduledCrossOrderedTasks()`; either way no
 * balance can change between the record date and the snapshot.
 */
contract SecurityToken is ERC20, AccessControl {
    using Checkpoints for Checkpoints.Trace208;

    // ATS IFactory.SecurityType, same order.
    enum SecurityType {
        BondVariableRate,
        Equity,
        BondFixedRate,
        BondKpiLinkedRate,
        BondSPTRate
    }

    struct ERC20MetadataInfo {
        string name;
        string symbol;
        string isin;
        uint8 decimals;
    }

    struct ERC20Metadata {
        ERC20MetadataInfo info;
        SecurityType securityType;
    }

    struct HolderBalance {
        address holder;
        uint256 balance;
    }

    struct Dividend {
        uint256 recordDate;
        uint256 executionDate;
        uint256 amount;
        uint8 amountDecimals;
    }

    struct RegisteredDividend {
        Dividend dividend;
        uint256 snapshotId;
    }

    struct DividendFor {
        uint256 tokenBalance;
        uint256 amount;
        uint8 amountDecimals;
        uint256 recordDate;
        uint256 executionDate;
        uint8 decimals;
        bool recordDateReached;
        bool isDisabled;
    }

    struct AmountFor { // ATS DividendAmountFor and CouponAmountFor: the same layout
        uint256 numerator;
        uint256 denominator;
        bool recordDateReached;
    }

    enum RateCalculationStatus {
        PENDING,
        SET
    }

    struct Coupon {
        uint256 recordDate;
        uint256 executionDate;
        uint256 startDate;
        uint256 endDate;
        uint256 fixingDate;
        uint256 rate;
        uint8 rateDecimals;
        RateCalculationStatus rateStatus;
    }

    struct RegisteredCoupon {
        Coupon coupon;
        uint256 snapshotId;
    }

    struct CouponFor {
        uint256 tokenBalance;
        uint256 nominalValue;
        uint8 decimals;
        bool recordDateReached;
        Coupon coupon;
        AmountFor couponAmount;
        bool isDisabled;
    }

    struct BondDetailsData {
        bytes3 currency;
        uint256 nominalValue;
        uint8 nominalValueDecimals;
        uint256 startingDate;
        uint256 maturityDate;
    }

    enum DividendType {
        NONE,
        PREFERRED,
        COMMON
    }

    struct EquityDetailsData {
        bool votingRight;
        bool informationRight;
        bool liquidationRight;
        bool subscriptionRight;
        bool conversionRight;
        bool redemptionRight;
        bool putRight;
        DividendType dividendRight;
        bytes3 currency;
        uint256 nominalValue;
        uint8 nominalValueDecimals;
    }

    /// A record date whose snapshot is still to be taken (sorted latest first: the due one is last).
    struct Pending {
        uint256 recordDate;
        bool coupon;
        uint256 index;
    }

    bytes32 public constant ISSUER_ROLE = keccak256("ISSUER_ROLE");
    bytes32 public constant CONTROLLER_ROLE = keccak256("CONTROLLER_ROLE");
    bytes32 public constant CORPORATE_ACTION_ROLE = keccak256("CORPORATE_ACTION_ROLE");
    uint256 private constant YEAR = 365 days; // ATS's coupon day count

    uint8 private immutable _decimals;
    SecurityType private immutable _securityType;
    uint256 private immutable _startingDate;
    uint256 private immutable _maturityDate;
    uint256 private immutable _nominalValue;
    uint8 private immutable _nominalValueDecimals;

    uint48 private _snapshotId;
    mapping(address => Checkpoints.Trace208) private _balanceAt;
    Checkpoints.Trace208 private _supplyAt;
    Checkpoints.Trace208 private _holderCount;
    mapping(uint256 => Checkpoints.Trace208) private _holderAt; // 1-based position => address
    mapping(address => uint256) private _position;
    RegisteredDividend[] private _dividends; // dividend id = index + 1, as in ATS
    RegisteredCoupon[] private _coupons; // coupon id = index + 1
    Pending[] private _pending;

    // ATS ISnapshotsStorageWrapper, IDividendStorageWrapper, ICoupon events.
    event SnapshotTaken(address indexed operator, uint256 indexed snapshotID);
    event DividendSet(bytes32 corporateActionId, uint256 dividendId, address indexed operator, uint256 indexed recordDate,
        uint256 indexed executionDate, uint256 amount, uint8 amountDecimals);
    event CouponSet(bytes32 corporateActionId, uint256 couponId, address indexed operator, Coupon coupon);
    /// @notice ATS's shape (IERC1644StorageWrapper): only the holder is indexed.
    event ControllerRedemption(address controller, address indexed tokenHolder, uint256 value, bytes data, bytes operatorData);

    error SnapshotIdNull();
    error SnapshotIdDoesNotExists(uint256 snapshotId);
    error WrongIndexForAction(uint256 id);
    error WrongSecurityType(SecurityType securityType);
    error WrongDates(uint256 recordDate, uint256 executionDate);
    error LengthMismatch(uint256 accounts, uint256 values);

    constructor(string memory name_, string memory symbol_, uint8 decimals_, SecurityType securityType_, uint256 maturityDate_,
        uint256 nominalValue_, uint8 nominalValueDecimals_, address admin) ERC20(name_, symbol_)
    {
        _decimals = decimals_;
        _securityType = securityType_;
        _startingDate = block.timestamp;
        _maturityDate = maturityDate_;
        _nominalValue = nominalValue_;
        _nominalValueDecimals = nominalValueDecimals_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    function decimals() public view override returns (uint8) {
        return _decimals;
    }

    function getERC20Metadata() external view returns (ERC20Metadata memory) {
        return ERC20Metadata(ERC20MetadataInfo(name(), symbol(), "", _decimals), _securityType);
    }

    function getBondDetails() external view returns (BondDetailsData memory) {
        _requireBond(true);
        return BondDetailsData("USD", _nominalValue, _nominalValueDecimals, _startingDate, _maturityDate);
    }

    function getEquityDetails() external view returns (EquityDetailsData memory d) {
        _requireBond(false);
        d.dividendRight = DividendType.COMMON;
        d.currency = "USD";
        d.nominalValue = _nominalValue;
        d.nominalValueDecimals = _nominalValueDecimals;
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

    /// @notice Forced redemption by a controller (ATS IERC1644); the PayoutVault uses it at cash-out.
    function controllerRedeem(address tokenHolder, uint256 value, bytes calldata data, bytes calldata operatorData)
        external
        onlyRole(CONTROLLER_ROLE)
    {
        _requireBond(true);
        _burn(tokenHolder, value);
        emit ControllerRedemption(msg.sender, tokenHolder, value, data, operatorData);
    }

    // ------------------------------------------------------------------ snapshots (ATS ISnapshots)

    function takeSnapshot() public onlyRole(CORPORATE_ACTION_ROLE) returns (uint256) {
        return _takeSnapshot();
    }

    /// @notice Not ATS: the newest snapshot id, for dev tooling and tests.
    function currentSnapshotId() external view returns (uint256) {
        return _snapshotId;
    }

    function balanceOfAtSnapshot(uint256 snapshotId, address account) external view returns (uint256) {
        return _balanceAt[account].upperLookup(_checkSnapshot(snapshotId));
    }

    function totalSupplyAtSnapshot(uint256 snapshotId) external view returns (uint256) {
        return _supplyAt.upperLookup(_checkSnapshot(snapshotId));
    }

    function decimalsAtSnapshot(uint256 snapshotId) external view returns (uint8) {
        _checkSnapshot(snapshotId);
        return _decimals;
    }

    function getTotalTokenHoldersAtSnapshot(uint256 snapshotId) external view returns (uint256) {
        return _holderCount.upperLookup(_checkSnapshot(snapshotId));
    }

    function getTokenHoldersAtSnapshot(uint256 snapshotId, uint256 pageIndex, uint256 pageLength)
        external
        view
        returns (address[] memory)
    {
        return _holdersAt(_checkSnapshot(snapshotId), pageIndex, pageLength);
    }

    /// @notice A page of holders with their balances at the snapshot: one call instead of 1 + pageLength.
    function balancesOfAtSnapshot(uint256 snapshotId, uint256 pageIndex, uint256 pageLength)
        external
        view
        returns (HolderBalance[] memory balances)
    {
        uint48 key = _checkSnapshot(snapshotId);
        address[] memory holders = _holdersAt(key, pageIndex, pageLength);
        balances = new HolderBalance[](holders.length);
        for (uint256 i; i < holders.length; ++i) {
            balances[i] = HolderBalance(holders[i], _balanceAt[holders[i]].upperLookup(key));
        }
    }

    // ------------------------------------------------------------------ holders now (ATS ISecurity)

    function getTotalSecurityHolders() external view returns (uint256) {
        return _holderCount.latest();
    }

    function getSecurityHolders(uint256 pageIndex, uint256 pageLength) external view returns (address[] memory holders) {
        (uint256 start, uint256 end) = _page(_holderCount.latest(), pageIndex, pageLength);
        holders = new address[](end - start);
        for (uint256 i = start; i < end; ++i) {
            holders[i - start] = address(uint160(_holderAt[i + 1].latest()));
        }
    }

    // ------------------------------------------------------------------ scheduled snapshots

    /// @notice Takes the snapshot of every dividend/coupon whose record date has passed (ATS
    /// IScheduledCrossOrderedTasks); callable by anyone, a no-op when none is due.
    function triggerPendingScheduledCrossOrderedTasks() public returns (uint256 taken) {
        for (uint256 n = _pending.length; n > 0 && _pending[n - 1].recordDate <= block.timestamp; --n) {
            Pending memory p = _pending[n - 1];
            _pending.pop();
            uint256 id = _takeSnapshot();
            if (p.coupon) _coupons[p.index].snapshotId = id;
            else _dividends[p.index].snapshotId = id;
            ++taken;
        }
    }

    // ------------------------------------------------------------------ dividends (ATS IDividend)

    function setDividend(Dividend calldata newDividend) external onlyRole(CORPORATE_ACTION_ROLE) returns (uint256 id) {
        _requireBond(false);
        _checkDates(newDividend.recordDate, newDividend.executionDate);
        _dividends.push(RegisteredDividend(newDividend, 0));
        id = _dividends.length;
        _schedule(newDividend.recordDate, false, id - 1);
        emit DividendSet(bytes32(id), id, msg.sender, newDividend.recordDate, newDividend.executionDate, newDividend.amount,
            newDividend.amountDecimals);
    }

    function getDividendsCount() external view returns (uint256) {
        return _dividends.length;
    }

    function getDividend(uint256 id) public view returns (RegisteredDividend memory, bool isDisabled) {
        if (id == 0 || id > _dividends.length) revert WrongIndexForAction(id);
        return (_dividends[id - 1], false);
    }

    function getDividendFor(uint256 id, address account) public view returns (DividendFor memory f) {
        (RegisteredDividend memory d,) = getDividend(id);
        (f.tokenBalance, f.recordDateReached) = _balanceForAction(d.dividend.recordDate, d.snapshotId, account);
        (f.amount, f.amountDecimals, f.decimals) = (d.dividend.amount, d.dividend.amountDecimals, _decimals);
        (f.recordDate, f.executionDate) = (d.dividend.recordDate, d.dividend.executionDate);
    }

    function getDividendAmountFor(uint256 id, address account) external view returns (AmountFor memory a) {
        DividendFor memory f = getDividendFor(id, account);
        if (!f.recordDateReached) return a;
        a = AmountFor(f.tokenBalance * f.amount, 10 ** (uint256(f.decimals) + f.amountDecimals), true);
    }

    function getDividendHolders(uint256 id, uint256 pageIndex, uint256 pageLength) external view returns (address[] memory) {
        (RegisteredDividend memory d,) = getDividend(id);
        return _actionHolders(d.dividend.recordDate, d.snapshotId, pageIndex, pageLength);
    }

    function getTotalDividendHolders(uint256 id) external view returns (uint256) {
        (RegisteredDividend memory d,) = getDividend(id);
        return _actionHolderCount(d.dividend.recordDate, d.snapshotId);
    }

    // ------------------------------------------------------------------ coupons (ATS ICoupon)

    function setCoupon(Coupon calldata newCoupon) external onlyRole(CORPORATE_ACTION_ROLE) returns (uint256 id) {
        _requireBond(true);
        _checkDates(newCoupon.recordDate, newCoupon.executionDate);
        _coupons.push(RegisteredCoupon(newCoupon, 0));
        id = _coupons.length;
        _schedule(newCoupon.recordDate, true, id - 1);
        emit CouponSet(bytes32(id), id, msg.sender, newCoupon);
    }

    function getCouponCount() external view returns (uint256) {
        return _coupons.length;
    }

    function getCoupon(uint256 id) public view returns (RegisteredCoupon memory, bool isDisabled) {
        if (id == 0 || id > _coupons.length) revert WrongIndexForAction(id);
        return (_coupons[id - 1], false);
    }

    function getCouponFor(uint256 id, address account) public view returns (CouponFor memory f) {
        (RegisteredCoupon memory c,) = getCoupon(id);
        (f.tokenBalance, f.recordDateReached) = _balanceForAction(c.coupon.recordDate, c.snapshotId, account);
        (f.nominalValue, f.decimals, f.coupon) = (_nominalValue, _decimals, c.coupon);
        if (f.recordDateReached) {
            uint256 period = c.coupon.endDate - c.coupon.startDate;
            f.couponAmount = AmountFor(f.tokenBalance * _nominalValue * c.coupon.rate * period,
                10 ** (uint256(_decimals) + _nominalValueDecimals + c.coupon.rateDecimals) * YEAR, true);
        }
    }

    function getCouponAmountFor(uint256 id, address account) external view returns (AmountFor memory) {
        return getCouponFor(id, account).couponAmount;
    }

    function getCouponHolders(uint256 id, uint256 pageIndex, uint256 pageLength) external view returns (address[] memory) {
        (RegisteredCoupon memory c,) = getCoupon(id);
        return _actionHolders(c.coupon.recordDate, c.snapshotId, pageIndex, pageLength);
    }

    function getTotalCouponHolders(uint256 id) external view returns (uint256) {
        (RegisteredCoupon memory c,) = getCoupon(id);
        return _actionHolderCount(c.coupon.recordDate, c.snapshotId);
    }

    // ------------------------------------------------------------------ internals

    function _requireBond(bool bond) private view {
        if ((_securityType != SecurityType.Equity) != bond) revert WrongSecurityType(_securityType);
    }

    function _checkDates(uint256 recordDate, uint256 executionDate) private view {
        if (recordDate < block.timestamp || executionDate < recordDate) revert WrongDates(recordDate, executionDate);
    }

    /// Inserts keeping `_pending` sorted latest first, so the due record dates sit at its end.
    function _schedule(uint256 recordDate, bool coupon, uint256 index) private {
        _pending.push(Pending(recordDate, coupon, index));
        for (uint256 i = _pending.length - 1; i > 0 && _pending[i - 1].recordDate < recordDate; --i) {
            (_pending[i - 1], _pending[i]) = (_pending[i], _pending[i - 1]);
        }
    }

    function _takeSnapshot() private returns (uint256) {
        uint48 id = ++_snapshotId;
        emit SnapshotTaken(msg.sender, id);
        return id;
    }

    /// A holder's balance for an action: at its snapshot; before the snapshot is taken (record date
    /// passed, no balance changed since) the balance now; 0 before the record date.
    function _balanceForAction(uint256 recordDate, uint256 snapshotId, address account)
        private
        view
        returns (uint256 balance, bool reached)
    {
        if (recordDate > block.timestamp) return (0, false);
        if (snapshotId != 0) return (_balanceAt[account].upperLookup(uint48(snapshotId)), true);
        return (balanceOf(account), true);
    }

    function _actionHolders(uint256 recordDate, uint256 snapshotId, uint256 pageIndex, uint256 pageLength)
        private
        view
        returns (address[] memory)
    {
        if (recordDate > block.timestamp) return new address[](0);
        return _holdersAt(snapshotId != 0 ? uint48(snapshotId) : _snapshotId + 1, pageIndex, pageLength);
    }

    function _actionHolderCount(uint256 recordDate, uint256 snapshotId) private view returns (uint256) {
        if (recordDate > block.timestamp) return 0;
        return _holderCount.upperLookup(snapshotId != 0 ? uint48(snapshotId) : _snapshotId + 1);
    }

    function _holdersAt(uint48 key, uint256 pageIndex, uint256 pageLength) private view returns (address[] memory holders) {
        (uint256 start, uint256 end) = _page(_holderCount.upperLookup(key), pageIndex, pageLength);
        holders = new address[](end - start);
        for (uint256 i = start; i < end; ++i) {
            holders[i - start] = address(uint160(_holderAt[i + 1].upperLookup(key)));
        }
    }

    function _update(address from, address to, uint256 value) internal override {
        // A record date that has passed gets its snapshot before any balance moves (ATS does the same).
        if (_pending.length != 0 && _pending[_pending.length - 1].recordDate <= block.timestamp) {
            triggerPendingScheduledCrossOrderedTasks();
        }
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
        if (snapshotId == 0) revert SnapshotIdNull();
        if (snapshotId > _snapshotId) revert SnapshotIdDoesNotExists(snapshotId);
        return uint48(snapshotId);
    }

    function _page(uint256 total, uint256 pageIndex, uint256 pageLength) private pure returns (uint256 start, uint256 end) {
        start = pageIndex * pageLength;
        if (start > total) start = total;
        end = start + pageLength > total ? total : start + pageLength;
    }
}
