"""The Asset Tokenization Studio (ATS) external functions Mass Payout depends on: in ONE place.

Each entry is the function's canonical signature, its return types (structs as tuples, in the
ATS field order) and so its 4-byte selector. The token adapter (chain/token_reader.py) encodes
calls and decodes answers only through this table, with eth_abi: an ATS token is a diamond
(ResolverProxy) whose facets we never compile against, so a web3 Contract ABI would be one more
copy of these facts to keep in step. tests/chain/test_ats_abi.py checks every entry against the
ATS interface files, written there independently.

Source: hashgraph/asset-tokenization-studio, packages/ats/contracts/contracts/, commit
1539fd1fd45158a9755eedfb5fecaa5f77c92df3 (facets/layer_1/ERC1400/ERC20/IERC20.sol,
facets/layer_1/snapshot/ISnapshots.sol, facets/layer_2/{dividend/IDividend, coupon/ICoupon,
bond/IBondRead, equity/IEquity, security/ISecurity}.sol,
facets/layer_2/scheduledTask/scheduledCrossOrderedTask/IScheduledCrossOrderedTasks.sol,
infrastructure/diamond/DiamondCut.sol, infrastructure/proxy/IResolverProxy.sol).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_abi.abi import decode, encode
from eth_utils.crypto import keccak

# IFactory.SecurityType, in declaration order (the uint8 in ERC20Metadata.securityType).
SECURITY_TYPES = ("BondVariableRate", "Equity", "BondFixedRate", "BondKpiLinkedRate",
                  "BondSPTRate")
EQUITY_TYPE = SECURITY_TYPES.index("Equity")
RATE_PENDING = 0  # ICoupon.RateCalculationStatus.PENDING (SET is 1)

_DIVIDEND = "(uint256,uint256,uint256,uint8)"  # recordDate, executionDate, amount, amountDecimals
# recordDate, executionDate, startDate, endDate, fixingDate, rate, rateDecimals, rateStatus
_COUPON = "(uint256,uint256,uint256,uint256,uint256,uint256,uint8,uint8)"
_AMOUNT_FOR = "(uint256,uint256,bool)"  # numerator, denominator, recordDateReached


@dataclass(frozen=True, slots=True)
class AtsFunction:
    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]

    @property
    def signature(self) -> str:
        return f"{self.name}({','.join(self.inputs)})"

    @property
    def selector(self) -> bytes:
        return keccak(text=self.signature)[:4]

    def calldata(self, *args: Any) -> bytes:
        return self.selector + encode(list(self.inputs), list(args))

    def result(self, raw: bytes) -> Any:
        """The decoded answer: the single value when there is one, else the tuple."""
        values = decode(list(self.outputs), raw)
        return values[0] if len(values) == 1 else values


def _f(name: str, inputs: str, outputs: str) -> AtsFunction:
    return AtsFunction(name, tuple(filter(None, inputs.split(";"))),
                       tuple(filter(None, outputs.split(";"))))


# ERC-20 (IERC20) metadata: getERC20Metadata() returns ((name, symbol, isin, decimals), type)
NAME = _f("name", "", "string")
SYMBOL = _f("symbol", "", "string")
DECIMALS = _f("decimals", "", "uint8")
BALANCE_OF = _f("balanceOf", "address", "uint256")
GET_ERC20_METADATA = _f("getERC20Metadata", "", "((string,string,string,uint8),uint8)")

# The diamond (ResolverProxy) that every ATS token is: its configuration in the resolver.
GET_CONFIG_INFO = _f("getConfigInfo", "", "address;bytes32;uint256")

# ISnapshots: balances, supply and holders as they were at a snapshot
BALANCE_OF_AT_SNAPSHOT = _f("balanceOfAtSnapshot", "uint256;address", "uint256")
BALANCES_OF_AT_SNAPSHOT = _f("balancesOfAtSnapshot", "uint256;uint256;uint256",
                             "(address,uint256)[]")
TOTAL_SUPPLY_AT_SNAPSHOT = _f("totalSupplyAtSnapshot", "uint256", "uint256")
GET_TOKEN_HOLDERS_AT_SNAPSHOT = _f("getTokenHoldersAtSnapshot", "uint256;uint256;uint256",
                                   "address[]")
GET_TOTAL_TOKEN_HOLDERS_AT_SNAPSHOT = _f("getTotalTokenHoldersAtSnapshot", "uint256", "uint256")
TAKE_SNAPSHOT = _f("takeSnapshot", "", "uint256")
# Takes the snapshots that record dates have made due (IScheduledCrossOrderedTasks).
TRIGGER_PENDING_TASKS = _f("triggerPendingScheduledCrossOrderedTasks", "", "uint256")

# The security's holders now (ISecurity)
GET_SECURITY_HOLDERS = _f("getSecurityHolders", "uint256;uint256", "address[]")
GET_TOTAL_SECURITY_HOLDERS = _f("getTotalSecurityHolders", "", "uint256")

# Equity dividends (IDividend); ids start at 1
GET_DIVIDEND = _f("getDividend", "uint256", f"({_DIVIDEND},uint256);bool")
GET_DIVIDENDS_COUNT = _f("getDividendsCount", "", "uint256")
# tokenBalance, amount, amountDecimals, recordDate, executionDate, decimals, reached, disabled
GET_DIVIDEND_FOR = _f("getDividendFor", "uint256;address",
                      "(uint256,uint256,uint8,uint256,uint256,uint8,bool,bool)")
GET_DIVIDEND_AMOUNT_FOR = _f("getDividendAmountFor", "uint256;address", _AMOUNT_FOR)
GET_DIVIDEND_HOLDERS = _f("getDividendHolders", "uint256;uint256;uint256", "address[]")
GET_TOTAL_DIVIDEND_HOLDERS = _f("getTotalDividendHolders", "uint256", "uint256")

# Bond coupons (ICoupon); ids start at 1
GET_COUPON = _f("getCoupon", "uint256", f"({_COUPON},uint256);bool")
GET_COUPON_COUNT = _f("getCouponCount", "", "uint256")
# tokenBalance, nominalValue, decimals, recordDateReached, coupon, couponAmount, isDisabled
GET_COUPON_FOR = _f("getCouponFor", "uint256;address",
                    f"(uint256,uint256,uint8,bool,{_COUPON},{_AMOUNT_FOR},bool)")
GET_COUPON_AMOUNT_FOR = _f("getCouponAmountFor", "uint256;address", _AMOUNT_FOR)
GET_COUPON_HOLDERS = _f("getCouponHolders", "uint256;uint256;uint256", "address[]")
GET_TOTAL_COUPON_HOLDERS = _f("getTotalCouponHolders", "uint256", "uint256")

# Details: currency, nominalValue, nominalValueDecimals, startingDate, maturityDate
GET_BOND_DETAILS = _f("getBondDetails", "", "(bytes3,uint256,uint8,uint256,uint256)")
# votingRight .. putRight (7 bools), dividendRight, currency, nominalValue, nominalValueDecimals
GET_EQUITY_DETAILS = _f("getEquityDetails", "",
                        "(bool,bool,bool,bool,bool,bool,bool,uint8,bytes3,uint256,uint8)")

ALL: tuple[AtsFunction, ...] = tuple(v for v in dict(globals()).values()
                                     if isinstance(v, AtsFunction))

# What a token must answer to be imported (the rest are read when a payout needs them).
REQUIRED_COMMON = (NAME, SYMBOL, DECIMALS, GET_ERC20_METADATA, BALANCE_OF_AT_SNAPSHOT,
                   TOTAL_SUPPLY_AT_SNAPSHOT, GET_TOKEN_HOLDERS_AT_SNAPSHOT,
                   GET_TOTAL_TOKEN_HOLDERS_AT_SNAPSHOT, GET_TOTAL_SECURITY_HOLDERS)
REQUIRED_EQUITY = (GET_EQUITY_DETAILS, GET_DIVIDENDS_COUNT, GET_DIVIDEND)
REQUIRED_BOND = (GET_BOND_DETAILS, GET_COUPON_COUNT, GET_COUPON)

# Custom errors: the diamond's answer to a selector no facet serves, and the snapshot errors.
FUNCTION_NOT_FOUND = keccak(text="FunctionNotFound(bytes4)")[:4]
SNAPSHOT_ID_NULL = keccak(text="SnapshotIdNull()")[:4]
SNAPSHOT_ID_DOES_NOT_EXIST = keccak(text="SnapshotIdDoesNotExists(uint256)")[:4]

# Logs: IERC1644StorageWrapper (layer_1/interfaces/ERC1400) emits, on a controller's forced
# redemption, `ControllerRedemption(address _controller, address indexed _tokenHolder,
# uint256 _value, bytes _data, bytes _operatorData)`: the holder is topic 1; the controller,
# value and the two byte strings are the data, in that order.
CONTROLLER_REDEMPTION = "ControllerRedemption(address,address,uint256,bytes,bytes)"
CONTROLLER_REDEMPTION_TOPIC = "0x" + keccak(text=CONTROLLER_REDEMPTION).hex()


def decode_controller_redemption(data: bytes) -> tuple[str, int]:
    """(controller, value) of a ControllerRedemption log's data."""
    controller, value, _data, _operator_data = decode(["address", "uint256", "bytes", "bytes"],
                                                      data)
    return str(controller), int(value)
