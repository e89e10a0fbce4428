// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

/**
 * @title HtsPrecompileStandIn
 * @notice STAND-IN for Hedera's token service system contract, for tests on anvil only: its
 * runtime code is placed at 0x167 with `anvil_setCode`, where Hedera serves the real one.
 *
 * It answers `associateToken(address account, address token) returns (int64)` as Hedera's does
 * (hedera-smart-contracts' IHederaTokenService, ResponseCodeEnum): SUCCESS (22) and the account
 * associated; TOKEN_ALREADY_ASSOCIATED_TO_ACCOUNT (194) for a second association; and, when a test
 * sets one, a failure code returned without associating (e.g. TOKEN_WAS_DELETED, 179). An account
 * other than the caller needs that account's signature on Hedera: INVALID_SIGNATURE (7) here.
 * Nothing else of the token service is modelled.
 */
contract HtsPrecompileStandIn {
    int64 public constant SUCCESS = 22;
    int64 public constant TOKEN_ALREADY_ASSOCIATED_TO_ACCOUNT = 194;
    int64 public constant INVALID_SIGNATURE = 7;

    mapping(address => mapping(address => bool)) private _associated;
    int64 public failureCode; // 0: answer like a healthy network
    uint256 public calls; // how many associations were asked: a test proves none was

    function associateToken(address account, address token) external returns (int64) {
        ++calls;
        if (failureCode != 0) return failureCode;
        if (account != msg.sender) return INVALID_SIGNATURE;
        if (_associated[account][token]) return TOKEN_ALREADY_ASSOCIATED_TO_ACCOUNT;
        _associated[account][token] = true;
        return SUCCESS;
    }

    function setFailureCode(int64 code) external {
        failureCode = code;
    }

    function isAssociated(address account, address token) external view returns (bool) {
        return _associated[account][token];
    }
}
