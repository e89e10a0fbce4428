// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

interface IReferenceSnapshots {
    function getTotalTokenHoldersAtSnapshot(uint256 snapshotId) external view returns (uint256);
    function getTokenHoldersAtSnapshot(uint256 snapshotId, uint256 pageIndex, uint256 pageLength)
        external view returns (address[] memory);
    function balanceOfAtSnapshot(uint256 snapshotId, address account) external view returns (uint256);
}

/// @notice Test stand-in for an ATS token from before `balancesOfAtSnapshot(uint256,uint256,uint256)`:
/// the per-holder snapshot views only, answered by a reference SecurityToken, so the adapter's
/// fallback (holders page + batched balanceOfAtSnapshot) is exercised against real contracts.
contract OlderAtsSnapshots {
    IReferenceSnapshots private immutable _token;

    constructor(IReferenceSnapshots token) {
        _token = token;
    }

    function getTotalTokenHoldersAtSnapshot(uint256 snapshotId) external view returns (uint256) {
        return _token.getTotalTokenHoldersAtSnapshot(snapshotId);
    }

    function getTokenHoldersAtSnapshot(uint256 snapshotId, uint256 pageIndex, uint256 pageLength)
        external view returns (address[] memory)
    {
        return _token.getTokenHoldersAtSnapshot(snapshotId, pageIndex, pageLength);
    }

    function balanceOfAtSnapshot(uint256 snapshotId, address account) external view returns (uint256) {
        return _token.balanceOfAtSnapshot(snapshotId, account);
    }
}
