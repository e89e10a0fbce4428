"""Reading an asset from an ATS security token, with every check done before the ledger records
anything: a wrong address, a plain ERC-20, a vault someone else controls or an RPC on the wrong
chain fail here with their own error, not halfway through an import.

The token speaks the Asset Tokenization Studio's external interface, whose functions, selectors
and tuple layouts live in chain/ats_abi.py. Two kinds are read through the same calls and told
apart by probing, never by configuration (`detect`):
- "ats": a genuine ATS token, a diamond (ResolverProxy) answering `getConfigInfo()` with its
  resolver, configuration id and version;
- "reference": our contracts/src/SecurityToken.sol, one contract with the same signatures.

Snapshot reads are immutable (a checkpoint written after snapshot s has a key > s), so pages
may be read at "latest" across many blocks and still describe one consistent record date.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from eth_utils.address import to_checksum_address
from web3 import Web3
from web3.exceptions import BadFunctionCallOutput, Web3Exception

from chain import ats_abi as ats
from chain.contracts import at, role
from chain.errors import ChainError, ContractRevertError, reverts, translate
from chain.snapshot_balances import BalanceReader
from domain.asset import CorporateAction


def _call_failed() -> tuple[type[Exception], ...]:
    return (*reverts(), BadFunctionCallOutput)


class TokenReadError(ChainError):
    """The chain does not show what an import needs; nothing has been recorded."""


class UnknownTokenError(TokenReadError):
    """No contract at the token address (a typo, or the wrong network)."""


class NotASecurityTokenError(TokenReadError):
    """A contract, but without the ATS security-token views it needs: e.g. an ERC-20."""


class UnknownSnapshotError(TokenReadError):
    """The token has not taken that snapshot (yet)."""


class AssetOnOtherChainError(TokenReadError):
    """The asset is recorded (or asked for) on another chain than the one the RPC serves.

    Bad input for this import or snapshot (a 422), unlike the gateway's
    RpcChainIdMismatchError, which is the process's own configuration being wrong."""


class PaymentTokenError(TokenReadError):
    """No ERC-20 at the payment token address, or other decimals than declared."""


class ForeignVaultError(TokenReadError):
    """No PayoutVault at the address, or our operator/approver hold no role on it."""


@dataclass(frozen=True, slots=True)
class TokenFacts:
    address: str  # EIP-55 checksummed
    name: str
    symbol: str
    decimals: int
    kind: str  # EQUITY | BOND
    maturity_date: datetime | None  # None when the token declares none (0)
    nominal_value: int  # in units of 10^-nominal_value_decimals of the currency, per token
    nominal_value_decimals: int = 0
    security_type: str = "Equity"  # ATS IFactory.SecurityType
    token_kind: str = "reference"  # noqa: S105 - detected: "ats" (a ResolverProxy diamond) | "reference"

    def nominal_in(self, payment_decimals: int) -> int:
        """The nominal value in payment-token units per whole token (rounded down: a nominal
        finer than the payment token's unit cannot be paid)."""
        return _scale(self.nominal_value, self.nominal_value_decimals, payment_decimals)


class _Token:
    """eth_call through the ATS table: encode, call, decode; reverts decoded by name."""

    def __init__(self, w3: Web3, address: str) -> None:
        self.w3, self.address = w3, address

    def raw(self, fn: ats.AtsFunction, *args: Any) -> bytes:
        return bytes(self.w3.eth.call({"to": self.address, "data": fn.calldata(*args)}))

    def call(self, fn: ats.AtsFunction, *args: Any) -> Any:
        try:
            return fn.result(self.raw(fn, *args))
        except _call_failed() as err:
            raise NotASecurityTokenError(
                f"{self.address}: {fn.signature} failed: {translate(err)}") from err
        except Exception as err:  # eth_abi's DecodingError (no common base worth naming)
            raise NotASecurityTokenError(
                f"{self.address}: {fn.signature} answered undecodable data") from err

    def has(self, fn: ats.AtsFunction) -> bool:
        """The token serves `fn`: it answers, or reverts with its own error (a zero argument
        may be refused, e.g. SnapshotIdNull). An empty revert (no such function, no fallback)
        and the diamond's FunctionNotFound(bytes4) mean it does not."""
        zeros = [_zero(t) for t in fn.inputs]
        try:
            fn.result(self.raw(fn, *zeros))
        except _call_failed() as err:
            decoded = translate(err)
            return isinstance(decoded, ContractRevertError) \
                and decoded.data[:4] != ats.FUNCTION_NOT_FOUND
        except (Web3Exception, ValueError):
            raise
        except Exception:  # noqa: BLE001 - answered, but not in the ATS layout
            return False
        return True


def check_chain(w3: Web3, expected_chain_id: int) -> None:
    actual = w3.eth.chain_id
    if actual != expected_chain_id:
        raise AssetOnOtherChainError(f"the RPC serves chain {actual}, expected {expected_chain_id}")


def detect(w3: Web3, address: str) -> str:
    """ "ats" when the token is an ATS ResolverProxy (getConfigInfo() names a resolver), else
    "reference" (the caller has checked that it answers the ATS views)."""
    token = _Token(w3, _existing(w3, address, UnknownTokenError, "token"))
    try:
        resolver, _config, _version = ats.GET_CONFIG_INFO.result(token.raw(ats.GET_CONFIG_INFO))
    except Exception:  # noqa: BLE001 - any failure: not a diamond
        return "reference"
    return "ats" if int(resolver, 16) else "reference"


def read_token(w3: Web3, address: str) -> TokenFacts:
    """Probes every view an import and its payouts need, then reads the facts; refuses with
    the list of what is missing."""
    token = _Token(w3, _existing(w3, address, UnknownTokenError, "token"))
    missing = [fn.signature for fn in ats.REQUIRED_COMMON if not token.has(fn)]
    if not missing:
        (_name, _symbol, _isin, _decimals), security_type = token.call(ats.GET_ERC20_METADATA)
        if not 0 <= security_type < len(ats.SECURITY_TYPES):
            raise NotASecurityTokenError(f"{token.address} declares an unknown security type"
                                         f" {security_type}")
        bond = security_type != ats.EQUITY_TYPE
        missing = [fn.signature for fn in (ats.REQUIRED_BOND if bond else ats.REQUIRED_EQUITY)
                   if not token.has(fn)]
    if missing:
        raise NotASecurityTokenError(f"{token.address} is not an ATS security token: "
                                     + ", ".join(f"no {m}" for m in missing))
    maturity = 0
    if bond:
        _currency, nominal, nominal_decimals, _start, maturity = token.call(ats.GET_BOND_DETAILS)
    else:
        *_rights, _currency, nominal, nominal_decimals = token.call(ats.GET_EQUITY_DETAILS)
    return TokenFacts(
        address=token.address, name=token.call(ats.NAME), symbol=token.call(ats.SYMBOL),
        decimals=token.call(ats.DECIMALS), kind="BOND" if bond else "EQUITY",
        maturity_date=_moment(maturity) if maturity else None, nominal_value=nominal,
        nominal_value_decimals=nominal_decimals,
        security_type=ats.SECURITY_TYPES[security_type], token_kind=detect(w3, token.address))


def check_vault(w3: Web3, vault_address: str, *, operator: str | None,
                approver: str | None) -> None:
    """A PayoutVault on which our operator/approver hold their roles: else someone else's.

    An account given as None is not checked (an import without the worker's keys at hand
    still verifies that the address is a PayoutVault at all).
    """
    vault = at(w3, "PayoutVault", _existing(w3, vault_address, ForeignVaultError, "vault"))
    try:
        ours = (vault.functions.OPERATOR_ROLE().call(), vault.functions.APPROVER_ROLE().call())
        vault.functions.version().call()
    except _call_failed():
        raise ForeignVaultError(f"{vault.address} is not a PayoutVault") from None
    if ours != (role("OPERATOR"), role("APPROVER")):
        raise ForeignVaultError(f"{vault.address} is not a PayoutVault (other role ids)")
    for name, account in (("OPERATOR", operator), ("APPROVER", approver)):
        if account is not None and not vault.functions.hasRole(
                role(name), to_checksum_address(account)).call():
            raise ForeignVaultError(
                f"{account} lacks {name}_ROLE on vault {vault.address}: not our vault")


def check_payment_token(w3: Web3, address: str, decimals: int) -> None:
    """Wrong payment decimals would pay every holder 10^k times too much or too little."""
    token = _Token(w3, _existing(w3, address, PaymentTokenError, "payment token"))
    try:
        actual = ats.DECIMALS.result(token.raw(ats.DECIMALS))
    except Exception:  # noqa: BLE001 - a revert or an undecodable answer alike
        raise PaymentTokenError(f"{token.address} is not an ERC-20 (no decimals)") from None
    if actual != decimals:
        raise PaymentTokenError(f"payment token {token.address} has {actual} decimals,"
                                f" not {decimals}")


def holders_at_snapshot(w3: Web3, token: str, snapshot_id: int, *,
                        page_size: int = 1000) -> Iterator[list[tuple[str, int]]]:
    """Pages of (holder, balance at the snapshot): one page in memory at a time.

    One `balancesOfAtSnapshot` call per page (holders and balances together); a token without
    it (older ATS versions) is read as `getTokenHoldersAtSnapshot` + batched
    `balanceOfAtSnapshot` calls."""
    if page_size <= 0:
        raise ValueError("page_size must be positive")
    contract = _Token(w3, _existing(w3, token, UnknownTokenError, "token"))
    total: int = _snapshot_view(contract, ats.GET_TOTAL_TOKEN_HOLDERS_AT_SNAPSHOT, snapshot_id)
    paged = total == 0 or contract.has(ats.BALANCES_OF_AT_SNAPSHOT)
    balances = None if paged else BalanceReader(w3, contract.address, snapshot_id)
    for page, start in enumerate(range(0, total, page_size)):
        rows: list[tuple[str, int]]
        if balances is None:
            rows = [(str(to_checksum_address(h)), int(b)) for h, b in _snapshot_view(
                contract, ats.BALANCES_OF_AT_SNAPSHOT, snapshot_id, page, page_size)]
        else:
            holders = [to_checksum_address(h) for h in _snapshot_view(
                contract, ats.GET_TOKEN_HOLDERS_AT_SNAPSHOT, snapshot_id, page, page_size)]
            rows = [(str(h), b) for h, b in zip(holders, balances.read(holders), strict=True)]
        if len(rows) != min(page_size, total - start):
            raise TokenReadError(f"page {page} of snapshot {snapshot_id} has {len(rows)}"
                                 f" holders, the token counts {total}")
        yield rows


def security_holder_count(w3: Web3, token: str) -> int:
    """How many hold the security now (ATS ISecurity.getTotalSecurityHolders)."""
    return int(_Token(w3, to_checksum_address(token)).call(ats.GET_TOTAL_SECURITY_HOLDERS))


def current_holders(w3: Web3, token: str, *,
                    page_size: int = 1000) -> Iterator[list[tuple[str, int]]]:
    """Pages of (holder, balance now): what a distribution frozen now would read."""
    if page_size <= 0:
        raise ValueError("page_size must be positive")
    contract = _Token(w3, _existing(w3, token, UnknownTokenError, "token"))
    total: int = contract.call(ats.GET_TOTAL_SECURITY_HOLDERS)
    balances = BalanceReader(w3, contract.address, None)
    for page, _start in enumerate(range(0, total, page_size)):
        holders = [to_checksum_address(h) for h in
                   contract.call(ats.GET_SECURITY_HOLDERS, page, page_size)]
        yield [(str(h), b) for h, b in zip(holders, balances.read(holders), strict=True)]


def corporate_actions(w3: Web3, token: str, *, payment_decimals: int, after: int = 0,
                      facts: TokenFacts | None = None) -> list[CorporateAction]:
    """The equity's dividends or the bond's coupons with ids above `after` (ATS ids start at
    1 and are append-only); a cancelled (disabled) one is left out.

    `amount_per_unit` is in payment-token units per whole token, rounded down: a dividend's
    `amount / 10^amountDecimals`; a coupon's nominal * rate * (end - start) / 365 days, ATS's
    own formula (ICoupon.getCouponAmountFor). A coupon whose rate is still PENDING ends the
    list: recorded now, its amount would be final before its rate is. `facts`: the token's,
    when just read."""
    facts = facts or read_token(w3, token)
    contract = _Token(w3, facts.address)
    out: list[CorporateAction] = []
    if facts.kind == "EQUITY":
        for i in range(after + 1, contract.call(ats.GET_DIVIDENDS_COUNT) + 1):
            ((record, execution, amount, amount_decimals), _snap), disabled = \
                contract.call(ats.GET_DIVIDEND, i)
            if not disabled:
                out.append(CorporateAction(
                    action_id=i, kind="DIVIDEND", record_date=_moment(record),
                    execution_date=_moment(execution),
                    amount_per_unit=_scale(amount, amount_decimals, payment_decimals)))
        return out
    for i in range(after + 1, contract.call(ats.GET_COUPON_COUNT) + 1):
        ((record, execution, start, end, _fixing, rate, rate_decimals, status), _snap), \
            disabled = contract.call(ats.GET_COUPON, i)
        if status == ats.RATE_PENDING and not disabled:
            break  # its rate is fixed later (KPI-linked bonds): read it, and the rest, then
        if not disabled:
            per_unit = facts.nominal_value * rate * (end - start) * 10**payment_decimals \
                // (10**(facts.nominal_value_decimals + rate_decimals) * 365 * 86_400)
            out.append(CorporateAction(
                action_id=i, kind="COUPON", record_date=_moment(record),
                execution_date=_moment(execution), amount_per_unit=per_unit))
    return out


def action_amount_for(w3: Web3, token: str, *, coupon: bool, action_id: int,
                      account: str) -> tuple[int, int] | None:
    """ATS's own per-holder amount of a dividend/coupon, (numerator, denominator) in whole
    currency units; None before the record date. For reconciling our entitlements."""
    fn = ats.GET_COUPON_AMOUNT_FOR if coupon else ats.GET_DIVIDEND_AMOUNT_FOR
    numerator, denominator, reached = _Token(w3, to_checksum_address(token)).call(
        fn, action_id, to_checksum_address(account))
    return (numerator, denominator) if reached else None


def action_snapshot_id(w3: Web3, token: str, *, coupon: bool, action_id: int) -> int:
    """The snapshot a dividend/coupon was frozen at; 0 while it is not taken yet."""
    fn = ats.GET_COUPON if coupon else ats.GET_DIVIDEND
    (_terms, snapshot_id), _disabled = _Token(w3, to_checksum_address(token)).call(fn, action_id)
    return int(snapshot_id)


def _existing(w3: Web3, address: str, missing: type[TokenReadError], what: str) -> str:
    try:
        checksummed = to_checksum_address(address)
    except ValueError:
        raise missing(f"{address!r} is not an EVM address") from None
    if not w3.eth.get_code(checksummed):
        raise missing(f"no contract at {what} address {checksummed} on this chain")
    return checksummed


def _snapshot_view(token: _Token, fn: ats.AtsFunction, snapshot_id: int, *args: Any) -> Any:
    try:
        return fn.result(token.raw(fn, snapshot_id, *args))
    except _call_failed() as err:
        decoded = translate(err)
        if isinstance(decoded, ContractRevertError) and decoded.data[:4] in (
                ats.SNAPSHOT_ID_NULL, ats.SNAPSHOT_ID_DOES_NOT_EXIST):
            raise UnknownSnapshotError(f"snapshot {snapshot_id} was not taken") from None
        raise NotASecurityTokenError(f"{token.address} cannot page holders: {decoded}") from err


def _scale(amount: int, from_decimals: int, to_decimals: int) -> int:
    factor: int = 10 ** abs(to_decimals - from_decimals)
    return amount * factor if to_decimals >= from_decimals else amount // factor


def _zero(abi_type: str) -> Any:
    return "0x" + "00" * 20 if abi_type == "address" else 0


def _moment(timestamp: int) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)
