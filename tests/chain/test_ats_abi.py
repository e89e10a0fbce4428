"""The adapter's ATS functions against the ATS interfaces themselves, and kind detection.

The table below is written from the interface files of hashgraph/asset-tokenization-studio at
commit 1539fd1fd45158a9755eedfb5fecaa5f77c92df3, under packages/ats/contracts/contracts/:
facets/layer_1/ERC1400/ERC20/IERC20.sol, facets/layer_1/snapshot/ISnapshots.sol,
facets/layer_2/dividend/IDividend.sol, facets/layer_2/coupon/ICoupon.sol,
facets/layer_2/bond/IBondRead.sol, facets/layer_2/equity/IEquity.sol,
facets/layer_2/security/ISecurity.sol,
facets/layer_2/scheduledTask/scheduledCrossOrderedTask/IScheduledCrossOrderedTasks.sol and
infrastructure/diamond/DiamondCut.sol (getConfigInfo). Structs are spelled out as tuples in
their declaration order; the selectors are computed here with keccak, not taken from the code
under test.
"""

from __future__ import annotations

import pytest
from eth_utils.crypto import keccak

from chain import ats_abi
from chain.token_reader import NotASecurityTokenError, detect, read_token

DIVIDEND = "(uint256,uint256,uint256,uint8)"
COUPON = "(uint256,uint256,uint256,uint256,uint256,uint256,uint8,uint8)"
AMOUNT_FOR = "(uint256,uint256,bool)"

ATS_INTERFACES = {
    "name()": "(string)",
    "symbol()": "(string)",
    "decimals()": "(uint8)",
    "balanceOf(address)": "(uint256)",
    "getERC20Metadata()": "(((string,string,string,uint8),uint8))",
    "getConfigInfo()": "(address,bytes32,uint256)",
    "balanceOfAtSnapshot(uint256,address)": "(uint256)",
    "balancesOfAtSnapshot(uint256,uint256,uint256)": "((address,uint256)[])",
    "totalSupplyAtSnapshot(uint256)": "(uint256)",
    "getTokenHoldersAtSnapshot(uint256,uint256,uint256)": "(address[])",
    "getTotalTokenHoldersAtSnapshot(uint256)": "(uint256)",
    "takeSnapshot()": "(uint256)",
    "triggerPendingScheduledCrossOrderedTasks()": "(uint256)",
    "getSecurityHolders(uint256,uint256)": "(address[])",
    "getTotalSecurityHolders()": "(uint256)",
    "getDividend(uint256)": f"(({DIVIDEND},uint256),bool)",
    "getDividendsCount()": "(uint256)",
    "getDividendFor(uint256,address)":
        "((uint256,uint256,uint8,uint256,uint256,uint8,bool,bool))",
    "getDividendAmountFor(uint256,address)": f"({AMOUNT_FOR})",
    "getDividendHolders(uint256,uint256,uint256)": "(address[])",
    "getTotalDividendHolders(uint256)": "(uint256)",
    "getCoupon(uint256)": f"(({COUPON},uint256),bool)",
    "getCouponCount()": "(uint256)",
    "getCouponFor(uint256,address)": f"((uint256,uint256,uint8,bool,{COUPON},{AMOUNT_FOR},bool))",
    "getCouponAmountFor(uint256,address)": f"({AMOUNT_FOR})",
    "getCouponHolders(uint256,uint256,uint256)": "(address[])",
    "getTotalCouponHolders(uint256)": "(uint256)",
    "getBondDetails()": "((bytes3,uint256,uint8,uint256,uint256))",
    "getEquityDetails()": "((bool,bool,bool,bool,bool,bool,bool,uint8,bytes3,uint256,uint8))",
}
# A few selectors as 4-byte literals, so the keccak step itself is checked once.
KNOWN_SELECTORS = {"balanceOf(address)": "70a08231", "decimals()": "313ce567"}


def test_every_function_the_adapter_calls_is_an_ats_function_with_its_layout():
    ours = {fn.signature: fn for fn in ats_abi.ALL}
    assert set(ours) == set(ATS_INTERFACES)
    for signature, returns in ATS_INTERFACES.items():
        fn = ours[signature]
        assert fn.selector == keccak(text=signature)[:4], signature
        assert "(" + ",".join(fn.outputs) + ")" == returns, signature
    for signature, selector in KNOWN_SELECTORS.items():
        assert ours[signature].selector.hex() == selector


def test_the_reference_token_serves_every_ats_function_with_the_same_abi(evm):
    # Our SecurityToken's compiled ABI has each ATS signature (so one adapter reads both).
    compiled = {f"{i['name']}({','.join(_types(i['inputs']))})": "(" + ",".join(
        _types(i["outputs"])) + ")" for i in evm.bond.abi if i["type"] == "function"}
    for signature, returns in ATS_INTERFACES.items():
        if signature != "getConfigInfo()":  # a diamond's, which ours is not
            assert compiled.get(signature) == returns, signature


def _types(params: list[dict]) -> list[str]:
    out = []
    for p in params:
        kind = p["type"]
        out.append("(" + ",".join(_types(p["components"])) + ")" + kind[5:]
                   if kind.startswith("tuple") else kind)
    return out


# Stand-in for a genuine ATS diamond's DiamondCut facet: runtime code that answers any call
# with the 96 bytes (address(1), bytes32(0), uint256(0)), i.e. getConfigInfo() naming a
# resolver. Init code: PUSH10 <runtime> PUSH1 0 MSTORE PUSH1 10 PUSH1 22 RETURN.
_RUNTIME = "600160005260606000f3"  # PUSH1 1 PUSH1 0 MSTORE PUSH1 96 PUSH1 0 RETURN
_INIT = "0x69" + _RUNTIME + "600052600a6016f3"


def test_kind_is_detected_from_the_token_itself(evm):
    # Our reference token has no getConfigInfo(): "reference".
    assert detect(evm.w3, evm.bond.address) == "reference"
    # A contract answering getConfigInfo() with a resolver is an ATS ResolverProxy: "ats".
    tx = evm.w3.eth.send_transaction({"from": evm.admin, "data": _INIT, "gas": 100_000})
    stand_in = evm.w3.eth.wait_for_transaction_receipt(tx)["contractAddress"]
    assert detect(evm.w3, stand_in) == "ats"
    # It serves none of the views an import needs, and the refusal names them.
    with pytest.raises(NotASecurityTokenError, match=r"no name\(\), no symbol\(\)"):
        read_token(evm.w3, stand_in)
