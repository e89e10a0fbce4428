// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {PackedMultiProof} from "./PackedMultiProof.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {AccessControlUpgradeable} from "@openzeppelin/contracts-upgradeable/access/AccessControlUpgradeable.sol";
import {PausableUpgradeable} from "@openzeppelin/contracts-upgradeable/utils/PausableUpgradeable.sol";
import {UUPSUpgradeable} from "@openzeppelin/contracts-upgradeable/proxy/utils/UUPSUpgradeable.sol";
import {Initializable} from "@openzeppelin/contracts-upgradeable/proxy/utils/Initializable.sol";

/// @notice Hedera's token service system contract (HIP-206), at 0x167 on every Hedera network.
/// The signature and the int64 response code are those of hedera-smart-contracts'
/// IHederaTokenService; nothing answers at that address on other EVM chains.
interface IHederaTokenService {
    function associateToken(address account, address token) external returns (int64 responseCode);
}

/// @notice What the vault needs from a security token to redeem bond units at maturity.
interface IControllerRedeem {
    function controllerRedeem(address tokenHolder, uint256 value, bytes calldata data, bytes calldata operatorData)
        external;
}

/**
 * @title PayoutVault
 * @notice Pays committed entitlements (dividends, coupons, bond principal) to many holders in batches.
 *
 * A distribution is announced once with the Merkle root of its entitlements, an OpenZeppelin
 * StandardMerkleTree over `(uint256 index, address account, uint256 amount)` whose leaves are kept
 * in index order. Operators then push batches of leaves with one multiproof each. A per-distribution
 * bitmap makes a second payment of the same index impossible, and `totalNet` caps the sum paid, so a
 * misbehaving service can neither pay twice nor pay more than was approved.
 *
 * Batch calldata (`payBatch`, `cashOut`):
 *  - `leaves[i]` packs one leaf into one word: `account << 96 | amount` (amount < 2**96).
 *  - `indices` is empty for a contiguous batch (leaf i has index `firstIndex + i`), or holds one
 *    4-byte big-endian index per leaf, strictly ascending, with `indices[0] == firstIndex`; this is
 *    how a resubmission that leaves out already-paid leaves is expressed.
 *  - `proof` and `proofFlags` are OpenZeppelin's multiproof (`getMultiProof` order), with the flags
 *    bit-packed (flag i is bit `i % 8` of byte `i / 8`) instead of a 32-byte `bool` each. Their
 *    count is implied by OpenZeppelin's invariant `leaves + proof == flags + 1`. They are checked
 *    by `PackedMultiProof`, OpenZeppelin's `processMultiProof` algorithm reading the packed flags
 *    in place (differentially tested against `MerkleProof.multiProofVerify`).
 * Each leaf hash is the standard `keccak256(bytes.concat(keccak256(abi.encode(index, account, amount))))`,
 * so the index used for the bitmap is the committed one. A single proof (`claim`) is checked with
 * OpenZeppelin's `MerkleProof.verifyCalldata`.
 *
 * Cash-out (bond redemption): `announceCashOut` commits a frozen list whose leaf `amount` is the
 * number of bond units (smallest units) each holder redeems; the principal paid is
 * `floor(units * principalPerUnit / 10**assetDecimals)`, computed on-chain from the committed
 * rate. `cashOut` pages over that committed list, never over live holders (who disappear as they are
 * redeemed). Per holder, the redemption and the payment happen atomically in a self-call: if either
 * fails, neither happens, `PaymentFailed` is emitted and the holder can still `claim`.
 *
 * Events: `Paid(distributionId, wordIndex, paidBits)` once per bitmap word a batch touches, with
 * the bits it newly set: every paid index, auditable and indexed by distribution, at ~5 gas per
 * holder instead of ~1,000 for a per-holder log (the account and amount of each payment are in the
 * payment token's `Transfer` log and in the ledger's committed leaves). `AlreadyPaid` reports the
 * skipped leaves the same way, so a resubmitted batch stays cheap. `PaymentFailed` is per failed
 * leaf, with its index, account and the failing call's return data truncated to 256 bytes (for a
 * `false` return: the encoded `false`).
 * `BatchSettled` closes every batch with its counts and the amount paid.
 */
contract PayoutVault is Initializable, AccessControlUpgradeable, PausableUpgradeable, UUPSUpgradeable, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    bytes32 public constant APPROVER_ROLE = keccak256("APPROVER_ROLE");
    bytes32 public constant OPERATOR_ROLE = keccak256("OPERATOR_ROLE");
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");
    bytes32 public constant TREASURER_ROLE = keccak256("TREASURER_ROLE");
    bytes32 public constant UPGRADER_ROLE = keccak256("UPGRADER_ROLE");

    uint8 internal constant KIND_PAYOUT = 1;
    uint8 internal constant KIND_CASH_OUT = 2;
    uint256 internal constant MAX_REASON = 256;
    address internal constant HTS = address(0x167);
    int64 internal constant HTS_SUCCESS = 22; // ResponseCodeEnum.SUCCESS
    int64 internal constant HTS_TOKEN_ALREADY_ASSOCIATED = 194; // TOKEN_ALREADY_ASSOCIATED_TO_ACCOUNT

    struct Distribution {
        address token; // payment token
        uint40 claimDeadline;
        uint8 kind;
        bool reclaimed;
        uint32 leafCount;
        bytes32 root;
        uint128 totalNet;
        uint128 paid;
        address asset; // cash-out only: the bond token whose units are redeemed
        uint256 principalPerUnit; // cash-out only: payment units per whole bond unit
        uint256 unitScale; // cash-out only: 10 ** asset decimals
    }

    /// @custom:storage-location erc7201:masspayout.storage.PayoutVault
    struct VaultStorage {
        mapping(bytes32 => Distribution) distributions;
        mapping(bytes32 => mapping(uint256 => uint256)) paidWords;
        mapping(address => uint256) outstanding; // per payment token: Σ (totalNet - paid) of open distributions
        address treasury;
        uint64 transferGas;
        mapping(address => bool) sweepAccounts; // where `sweepTo` may send, besides the treasury
    }

    // keccak256(abi.encode(uint256(keccak256("masspayout.storage.PayoutVault")) - 1)) & ~bytes32(uint256(0xff))
    bytes32 private constant STORAGE_SLOT = 0x28bb4634482fefbeff4dae86c1b09b952214e5fae07e1efe1ea7ac6558639d00;

    event Announced(
        bytes32 indexed distributionId,
        address indexed token,
        bytes32 root,
        uint256 totalNet,
        uint256 leafCount,
        uint256 claimDeadline
    );
    event CashOutAnnounced(bytes32 indexed distributionId, address indexed asset, uint256 principalPerUnit);
    /// @notice Leaves newly paid in bitmap word `wordIndex`: bit j set means leaf `wordIndex * 256 + j`.
    event Paid(bytes32 indexed distributionId, uint256 wordIndex, uint256 paidBits);
    /// @notice Leaves of a batch skipped because already paid, as bits of bitmap word `wordIndex`.
    event AlreadyPaid(bytes32 indexed distributionId, uint256 wordIndex, uint256 skippedBits);
    event PaymentFailed(bytes32 indexed distributionId, uint256 index, address account, bytes reason);
    event BatchSettled(
        bytes32 indexed distributionId,
        uint256 firstIndex,
        uint256 count,
        uint256 paid,
        uint256 failed,
        uint256 skipped,
        uint256 amountPaid
    );
    event Claimed(bytes32 indexed distributionId, uint256 index, address indexed account, uint256 amount);
    event Reclaimed(bytes32 indexed distributionId, address indexed treasury, uint256 amount);
    /// @notice Uncommitted balance left the vault: to the treasury (`sweep`) or a sweep account (`sweepTo`).
    event Swept(address indexed token, address indexed treasury, uint256 amount);
    /// @notice An admin allowed (or no longer allows) `account` as a `sweepTo` recipient.
    event SweepAccountSet(address indexed account, bool allowed);
    event TreasuryChanged(address treasury);
    event TransferGasChanged(uint256 transferGas);
    /// @notice The vault's own Hedera account is associated with an HTS token (22) or already was (194).
    event HtsTokenAssociated(address indexed token, int64 responseCode);

    error ZeroAddress();
    error NotAContract(address account);
    error DistributionExists(bytes32 distributionId);
    error UnknownDistribution(bytes32 distributionId);
    error InvalidAnnouncement(bytes32 distributionId);
    error DeadlineNotInFuture(uint256 claimDeadline);
    error WrongKind(bytes32 distributionId, uint8 kind);
    error DistributionClosed(bytes32 distributionId);
    error EmptyBatch();
    error MalformedBatch();
    error IndexOutOfRange(uint256 index, uint256 leafCount);
    error IndicesNotAscending(uint256 index);
    error InvalidMultiproof(bytes32 distributionId);
    error InvalidProof(bytes32 distributionId, uint256 index);
    error CapExceeded(bytes32 distributionId, uint256 wouldPay, uint256 totalNet);
    error GasStarved(uint256 index);
    error LeafAlreadyPaid(bytes32 distributionId, uint256 index);
    error ClaimWindowClosed(bytes32 distributionId, uint256 claimDeadline);
    error ClaimWindowOpen(bytes32 distributionId, uint256 claimDeadline);
    error SweepExceedsFree(address token, uint256 amount, uint256 free);
    error NotASweepAccount(address recipient);
    error InvalidSweepAccount(address account); // the zero address or the vault itself
    error OnlySelf();
    error HtsAssociationFailed(address token, int64 responseCode);
    error HtsUnavailable(); // no token service answered at 0x167: not a Hedera network

    /// @custom:oz-upgrades-unsafe-allow constructor
    constructor() {
        _disableInitializers();
    }

    function initialize(address admin, address treasury_) external initializer {
        if (admin == address(0) || treasury_ == address(0)) revert ZeroAddress();
        __AccessControl_init();
        __Pausable_init();
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        VaultStorage storage $ = _s();
        $.treasury = treasury_;
        $.transferGas = 120_000;
    }

    // ------------------------------------------------------------------ announce

    /// @notice Commits a payout's entitlements; once per distribution id.
    function announce(
        bytes32 distributionId,
        address paymentToken,
        bytes32 merkleRoot,
        uint256 totalNet,
        uint256 leafCount,
        uint256 claimDeadline
    ) external onlyRole(APPROVER_ROLE) {
        Distribution storage d = _announce(distributionId, paymentToken, merkleRoot, totalNet, leafCount, claimDeadline);
        d.kind = KIND_PAYOUT;
    }

    /// @notice Commits a bond redemption: leaf amounts are bond units; principal = units * rate / 10**decimals.
    function announceCashOut(
        bytes32 distributionId,
        address paymentToken,
        address asset,
        uint256 principalPerUnit,
        bytes32 merkleRoot,
        uint256 totalNet,
        uint256 leafCount,
        uint256 claimDeadline
    ) external onlyRole(APPROVER_ROLE) {
        if (asset.code.length == 0) revert NotAContract(asset);
        if (principalPerUnit == 0) revert InvalidAnnouncement(distributionId);
        Distribution storage d = _announce(distributionId, paymentToken, merkleRoot, totalNet, leafCount, claimDeadline);
        d.kind = KIND_CASH_OUT;
        d.asset = asset;
        d.principalPerUnit = principalPerUnit;
        d.unitScale = 10 ** IERC20Metadata(asset).decimals();
        emit CashOutAnnounced(distributionId, asset, principalPerUnit);
    }

    function _announce(
        bytes32 id,
        address paymentToken,
        bytes32 root,
        uint256 totalNet,
        uint256 leafCount,
        uint256 claimDeadline
    ) private returns (Distribution storage d) {
        VaultStorage storage $ = _s();
        d = $.distributions[id];
        if (d.kind != 0) revert DistributionExists(id);
        if (paymentToken.code.length == 0) revert NotAContract(paymentToken);
        if (root == bytes32(0) || leafCount == 0 || leafCount > type(uint32).max || totalNet > type(uint128).max) {
            revert InvalidAnnouncement(id);
        }
        if (claimDeadline <= block.timestamp || claimDeadline > type(uint40).max) {
            revert DeadlineNotInFuture(claimDeadline);
        }
        d.token = paymentToken;
        d.claimDeadline = uint40(claimDeadline);
        d.leafCount = uint32(leafCount);
        d.root = root;
        d.totalNet = uint128(totalNet);
        $.outstanding[paymentToken] += totalNet;
        emit Announced(id, paymentToken, root, totalNet, leafCount, claimDeadline);
    }

    // ------------------------------------------------------------------ push payments

    /// @notice Pays a batch of committed leaves; see the contract notes for the calldata layout.
    function payBatch(
        bytes32 distributionId,
        uint256 firstIndex,
        bytes calldata indices,
        bytes32[] calldata leaves,
        bytes32[] calldata proof,
        bytes calldata proofFlags
    ) external nonReentrant onlyRole(OPERATOR_ROLE) whenNotPaused {
        Distribution storage d = _open(distributionId, KIND_PAYOUT);
        _batch(distributionId, d, firstIndex, indices, leaves, proof, proofFlags, false);
    }

    /// @notice Redeems bond units and pays their principal over a committed, frozen list.
    function cashOut(
        bytes32 distributionId,
        uint256 firstIndex,
        bytes calldata indices,
        bytes32[] calldata leaves,
        bytes32[] calldata proof,
        bytes calldata proofFlags
    ) external nonReentrant onlyRole(OPERATOR_ROLE) whenNotPaused {
        Distribution storage d = _open(distributionId, KIND_CASH_OUT);
        _batch(distributionId, d, firstIndex, indices, leaves, proof, proofFlags, true);
    }

    // ------------------------------------------------------------------ pull, reclaim, sweep

    /// @notice Pull fallback: pays (or, for a cash-out, redeems and pays) one committed leaf, only to `account`.
    function claim(bytes32 distributionId, uint256 index, address account, uint256 amount, bytes32[] calldata proof)
        external
        whenNotPaused
        nonReentrant
    {
        VaultStorage storage $ = _s();
        Distribution storage d = $.distributions[distributionId];
        if (d.kind == 0) revert UnknownDistribution(distributionId);
        if (d.reclaimed) revert DistributionClosed(distributionId);
        if (block.timestamp > d.claimDeadline) revert ClaimWindowClosed(distributionId, d.claimDeadline);
        if (index >= d.leafCount) revert IndexOutOfRange(index, d.leafCount);
        uint256 bit = 1 << (index & 255);
        if ($.paidWords[distributionId][index >> 8] & bit != 0) revert LeafAlreadyPaid(distributionId, index);
        bytes32 leaf = keccak256(bytes.concat(keccak256(abi.encode(index, account, amount))));
        if (!MerkleProof.verifyCalldata(proof, d.root, leaf)) revert InvalidProof(distributionId, index);
        uint256 payout = d.kind == KIND_CASH_OUT ? amount * d.principalPerUnit / d.unitScale : amount;
        uint256 paidAfter = d.paid + payout;
        if (paidAfter > d.totalNet) revert CapExceeded(distributionId, paidAfter, d.totalNet);
        $.paidWords[distributionId][index >> 8] |= bit;
        d.paid = uint128(paidAfter);
        $.outstanding[d.token] -= payout;
        if (d.kind == KIND_CASH_OUT) {
            IControllerRedeem(d.asset).controllerRedeem(account, amount, "", "");
        }
        IERC20(d.token).safeTransfer(account, payout);
        emit Paid(distributionId, index >> 8, bit);
        emit Claimed(distributionId, index, account, payout);
    }

    /// @notice After the claim deadline, releases what was not paid and returns it to the treasury.
    function reclaim(bytes32 distributionId) external onlyRole(TREASURER_ROLE) whenNotPaused nonReentrant {
        VaultStorage storage $ = _s();
        Distribution storage d = $.distributions[distributionId];
        if (d.kind == 0) revert UnknownDistribution(distributionId);
        if (d.reclaimed) revert DistributionClosed(distributionId);
        if (block.timestamp <= d.claimDeadline) revert ClaimWindowOpen(distributionId, d.claimDeadline);
        d.reclaimed = true;
        address token = d.token;
        uint256 remainder = d.totalNet - d.paid;
        $.outstanding[token] -= remainder;
        // Never touches funds committed to other open distributions, even if this one was underfunded.
        uint256 free = _free($, token);
        uint256 amount = remainder < free ? remainder : free;
        if (amount > 0) IERC20(token).safeTransfer($.treasury, amount);
        emit Reclaimed(distributionId, $.treasury, amount);
    }

    /// @notice Sends uncommitted balance (dust, withheld amounts, over-funding) to the treasury.
    function sweep(address token, uint256 amount) external onlyRole(TREASURER_ROLE) whenNotPaused nonReentrant {
        VaultStorage storage $ = _s();
        _sweep($, token, $.treasury, amount);
    }

    /**
     * @notice Sends uncommitted balance to an account an admin configured with `setSweepAccount`
     * (a tax authority for withheld tax, a dust account) or to the treasury. The allow-list keeps
     * what a sweep can do with a stolen treasurer key where it was: move free money only to
     * accounts the admin chose, never to the thief.
     */
    function sweepTo(address token, address recipient, uint256 amount)
        external
        onlyRole(TREASURER_ROLE)
        whenNotPaused
        nonReentrant
    {
        VaultStorage storage $ = _s();
        if (recipient != $.treasury && !$.sweepAccounts[recipient]) revert NotASweepAccount(recipient);
        _sweep($, token, recipient, amount);
    }

    function _sweep(VaultStorage storage $, address token, address recipient, uint256 amount) private {
        uint256 free = _free($, token);
        if (amount > free) revert SweepExceedsFree(token, amount, free);
        IERC20(token).safeTransfer(recipient, amount);
        emit Swept(token, recipient, amount);
    }

    // ------------------------------------------------------------------ administration

    function pause() external onlyRole(PAUSER_ROLE) {
        _pause();
    }

    function unpause() external onlyRole(PAUSER_ROLE) {
        _unpause();
    }

    function setTreasury(address treasury_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (treasury_ == address(0)) revert ZeroAddress();
        _s().treasury = treasury_;
        emit TreasuryChanged(treasury_);
    }

    /// @notice Allows (or no longer allows) `account` as a `sweepTo` recipient.
    function setSweepAccount(address account, bool allowed) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (account == address(0) || account == address(this)) revert InvalidSweepAccount(account);
        _s().sweepAccounts[account] = allowed;
        emit SweepAccountSet(account, allowed);
    }

    /// @notice Gas given to each push transfer: bounds what one hostile recipient or token can burn.
    function setTransferGas(uint64 transferGas_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _s().transferGas = transferGas_;
        emit TransferGasChanged(transferGas_);
    }

    /**
     * @notice On Hedera: associates the vault's own account with an HTS token, so that it can be
     * funded in it and pay it out (an unassociated account cannot receive an HTS token).
     *
     * Called by the deploy for each payment token when the network profile is Hedera's, and by an
     * admin for a payment token added later. The vault is the caller, so the token service needs no
     * other signature. SUCCESS and TOKEN_ALREADY_ASSOCIATED_TO_ACCOUNT both leave it associated, so
     * a repeated call (a deploy run again) is harmless; any other code reverts with it. It is an
     * explicit call rather than a chain id test inside `initialize`: the vault then never guesses,
     * and on a chain without the token service it reverts (`HtsUnavailable`) instead of skipping.
     */
    function associateToken(address token) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (token == address(0)) revert ZeroAddress();
        (bool ok, bytes memory ret) =
            HTS.call(abi.encodeCall(IHederaTokenService.associateToken, (address(this), token)));
        if (!ok || ret.length < 32) revert HtsUnavailable();
        int64 code = abi.decode(ret, (int64));
        if (code != HTS_SUCCESS && code != HTS_TOKEN_ALREADY_ASSOCIATED) revert HtsAssociationFailed(token, code);
        emit HtsTokenAssociated(token, code);
    }

    function _authorizeUpgrade(address) internal override onlyRole(UPGRADER_ROLE) {}

    // ------------------------------------------------------------------ views

    function version() external pure virtual returns (uint256) {
        return 1;
    }

    function isPaid(bytes32 distributionId, uint256 index) external view returns (bool) {
        return _s().paidWords[distributionId][index >> 8] & (1 << (index & 255)) != 0;
    }

    /// @notice Raw bitmap words `[fromWord, fromWord + count)`: bit `i % 256` of word `i / 256` is leaf i.
    function paidWords(bytes32 distributionId, uint256 fromWord, uint256 count)
        external
        view
        returns (uint256[] memory words)
    {
        mapping(uint256 => uint256) storage w = _s().paidWords[distributionId];
        words = new uint256[](count);
        for (uint256 i = 0; i < count; ++i) {
            words[i] = w[fromWord + i];
        }
    }

    function distribution(bytes32 distributionId) external view returns (Distribution memory) {
        return _s().distributions[distributionId];
    }

    function paidAmount(bytes32 distributionId) external view returns (uint256) {
        return _s().distributions[distributionId].paid;
    }

    function outstanding(address token) external view returns (uint256) {
        return _s().outstanding[token];
    }

    function treasury() external view returns (address) {
        return _s().treasury;
    }

    function isSweepAccount(address account) external view returns (bool) {
        return _s().sweepAccounts[account];
    }

    function transferGas() external view returns (uint256) {
        return _s().transferGas;
    }

    // ------------------------------------------------------------------ internals

    /// @notice Redeems then pays one cash-out holder; a self-call so that both revert together.
    function settleCashOutLeaf(address token, address asset, address account, uint256 units, uint256 principal)
        external
    {
        if (msg.sender != address(this)) revert OnlySelf();
        IControllerRedeem(asset).controllerRedeem(account, units, "", "");
        IERC20(token).safeTransfer(account, principal);
    }

    function _s() private pure returns (VaultStorage storage $) {
        assembly ("memory-safe") {
            $.slot := STORAGE_SLOT
        }
    }

    function _free(VaultStorage storage $, address token) private view returns (uint256) {
        uint256 balance = IERC20(token).balanceOf(address(this));
        uint256 committed = $.outstanding[token];
        return balance > committed ? balance - committed : 0;
    }

    function _open(bytes32 id, uint8 kind) private view returns (Distribution storage d) {
        d = _s().distributions[id];
        if (d.kind == 0) revert UnknownDistribution(id);
        if (d.kind != kind) revert WrongKind(id, d.kind);
        if (d.reclaimed) revert DistributionClosed(id);
    }

    function _indexAt(uint256 firstIndex, bytes calldata indices, uint256 i) private pure returns (uint256 idx) {
        if (indices.length == 0) return firstIndex + i;
        assembly ("memory-safe") {
            idx := shr(224, calldataload(add(indices.offset, shl(2, i))))
        }
    }

    struct Tally {
        uint256 paid;
        uint256 failed;
        uint256 skipped;
        uint256 amount;
        uint256 overCap; // what Σ paid would have reached at the first leaf over the cap, else 0
    }

    /// @dev Checks the batch's shape, then pays, then verifies the multiproof (see `_settle`).
    function _batch(
        bytes32 id,
        Distribution storage d,
        uint256 firstIndex,
        bytes calldata indices,
        bytes32[] calldata leaves,
        bytes32[] calldata proof,
        bytes calldata proofFlags,
        bool isCashOut
    ) private {
        uint256 n = leaves.length;
        if (n == 0) revert EmptyBatch();
        uint256 leafCount = d.leafCount;
        if (indices.length == 0) {
            if (firstIndex + n > leafCount) revert IndexOutOfRange(firstIndex + n - 1, leafCount);
        } else {
            if (indices.length != n * 4 || _indexAt(0, indices, 0) != firstIndex) revert MalformedBatch();
            uint256 last = _indexAt(0, indices, n - 1);
            if (last >= leafCount) revert IndexOutOfRange(last, leafCount);
        }
        if (proofFlags.length != (PackedMultiProof.flagCount(n, proof.length) + 7) >> 3) revert MalformedBatch();
        // One buffer: the leaf hashes, then room for the multiproof's inner hashes.
        bytes32[] memory queue = new bytes32[](n + PackedMultiProof.flagCount(n, proof.length));
        uint256 overCap = _settle(id, d, firstIndex, indices, leaves, queue, isCashOut);
        (bytes32 root, bool valid) = PackedMultiProof.processMultiProof(queue, n, proof, proofFlags);
        if (!valid || root != d.root) revert InvalidMultiproof(id);
        // Reported only for committed leaves, so a forged amount is an InvalidMultiproof.
        if (overCap != 0) revert CapExceeded(id, overCap, d.totalNet);
    }

    /**
     * @dev One pass per leaf: hash it into `queue`, skip it if paid, else pay it with failure
     * isolation. The bitmap word and the running total stay in memory and are written once.
     * The multiproof is verified after this pass, over the hashes it wrote: if it fails the whole
     * transaction reverts, transfers included, so paying first is as safe as verifying first and
     * saves a second pass over the calldata. Reentrancy is blocked by `nonReentrant`.
     */
    function _settle(
        bytes32 id,
        Distribution storage d,
        uint256 firstIndex,
        bytes calldata indices,
        bytes32[] calldata leaves,
        bytes32[] memory queue,
        bool isCashOut
    ) private returns (uint256 overCap) {
        VaultStorage storage $ = _s();
        mapping(uint256 => uint256) storage words = $.paidWords[id];
        address token = d.token;
        uint256 room = uint256(d.totalNet) - d.paid;
        uint256 gasLimit = isCashOut ? uint256($.transferGas) * 3 : $.transferGas;
        uint256 wordIndex = type(uint256).max;
        uint256 word;
        uint256 original;
        uint256 skippedBits;
        uint256 prev;
        Tally memory t;
        for (uint256 i = 0; i < leaves.length; ++i) {
            uint256 idx = _indexAt(firstIndex, indices, i);
            if (i > 0 && idx <= prev) revert IndicesNotAscending(idx);
            prev = idx;
            bytes32 w = leaves[i];
            assembly ("memory-safe") {
                // keccak256(bytes.concat(keccak256(abi.encode(idx, account, amount)))) into queue[i]
                let p := mload(0x40)
                mstore(p, idx)
                mstore(add(p, 0x20), shr(96, w))
                mstore(add(p, 0x40), and(w, 0xffffffffffffffffffffffff))
                mstore(0, keccak256(p, 0x60))
                mstore(add(add(queue, 0x20), shl(5, i)), keccak256(0, 0x20))
            }
            if (idx >> 8 != wordIndex) {
                if (word != original) _flush(id, words, wordIndex, word, original);
                if (skippedBits != 0) emit AlreadyPaid(id, wordIndex, skippedBits);
                skippedBits = 0;
                wordIndex = idx >> 8;
                word = words[wordIndex];
                original = word;
            }
            uint256 bit = 1 << (idx & 255);
            if (word & bit != 0) {
                ++t.skipped;
                skippedBits |= bit;
                continue;
            }
            address account = address(uint160(uint256(w >> 96)));
            uint256 units = uint96(uint256(w));
            uint256 amount = isCashOut ? units * d.principalPerUnit / d.unitScale : units;
            if (t.amount + amount > room) {
                if (t.overCap == 0) t.overCap = d.paid + t.amount + amount;
                continue; // keep hashing: the batch reverts after its proof is checked
            }
            bool ok = isCashOut ? _tryCashOut(d, account, units, amount, gasLimit) : _tryTransfer(token, account, amount, gasLimit);
            if (ok) {
                word |= bit;
                t.amount += amount;
                ++t.paid;
            } else {
                if (gasleft() <= gasLimit / 63) revert GasStarved(idx);
                ++t.failed;
                emit PaymentFailed(id, idx, account, _reason());
            }
        }
        if (word != original) _flush(id, words, wordIndex, word, original);
        if (skippedBits != 0) emit AlreadyPaid(id, wordIndex, skippedBits);
        if (t.amount > 0) {
            d.paid += uint128(t.amount);
            $.outstanding[token] -= t.amount;
        }
        emit BatchSettled(id, firstIndex, leaves.length, t.paid, t.failed, t.skipped, t.amount);
        return t.overCap;
    }

    function _flush(
        bytes32 id,
        mapping(uint256 => uint256) storage words,
        uint256 wordIndex,
        uint256 word,
        uint256 original
    ) private {
        words[wordIndex] = word;
        emit Paid(id, wordIndex, word & ~original);
    }

    function _tryCashOut(Distribution storage d, address account, uint256 units, uint256 principal, uint256 gasLimit)
        private
        returns (bool ok)
    {
        try this.settleCashOutLeaf{gas: gasLimit}(d.token, d.asset, account, units, principal) {
            ok = true;
        } catch {
            ok = false;
        }
    }

    /// @dev `transfer` with a bounded gas stipend; a revert, `false` or a malformed return is a failure.
    function _tryTransfer(address token, address to, uint256 amount, uint256 gasLimit) private returns (bool ok) {
        assembly ("memory-safe") {
            let p := mload(0x40)
            mstore(p, 0xa9059cbb00000000000000000000000000000000000000000000000000000000)
            mstore(add(p, 0x04), to)
            mstore(add(p, 0x24), amount)
            mstore(0, 0)
            ok := call(gasLimit, token, 0, p, 0x44, 0, 0x20)
            // Empty return data is accepted (USDT-style): the token's code was checked at announce.
            if returndatasize() { ok := and(ok, and(gt(returndatasize(), 0x1f), eq(mload(0), 1))) }
        }
    }

    /// @dev The last call's return data, truncated, for PaymentFailed.
    function _reason() private pure returns (bytes memory r) {
        assembly ("memory-safe") {
            let size := returndatasize()
            if gt(size, MAX_REASON) { size := MAX_REASON }
            r := mload(0x40)
            mstore(r, size)
            returndatacopy(add(r, 0x20), 0, size)
            mstore(0x40, add(add(r, 0x20), and(add(size, 0x1f), not(0x1f))))
        }
    }
}
