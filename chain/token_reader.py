"""Reading an asset from the reference security token, with every check done before the
ledger records anything: a wrong address, a plain ERC-20, a vault someone else controls or
an RPC on the wrong chain fail here with their own error, not halfway through an import.

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
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.exceptions import BadFunctionCallOutput

from chain.contracts import BOND, EQUITY, at, role
from chain.errors import ChainError, reverts, translate
from chain.snapshot_balances import BalanceReader
from domain.asset import CorporateAction

_KINDS = {EQUITY: "EQUITY", BOND: "BOND"}
_ACTION_KINDS = ("DIVIDEND", "COUPON")
def _call_failed() -> tuple[type[Exception], ...]:
    return (*reverts(), BadFunctionCallOutput)


class TokenReadError(ChainError):
    """The chain does not show what an import needs; nothing has been recorded."""


class UnknownTokenError(TokenReadError):
    """No contract at the token address (a typo, or the wrong network)."""


class NotASecurityTokenError(TokenReadError):
    """A contract, but without the security-token views (kind, snapshots): e.g. an ERC-20."""


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
    nominal_value: int  # payment-token units per whole token, at maturity


def check_chain(w3: Web3, expected_chain_id: int) -> None:
    actual = w3.eth.chain_id
    if actual != expected_chain_id:
        raise AssetOnOtherChainError(f"the RPC serves chain {actual}, expected {expected_chain_id}")


def read_token(w3: Web3, address: str) -> TokenFacts:
    token = _contract(w3, "SecurityToken", address, UnknownTokenError, "token")
    f = token.functions
    try:  # the security-token views first: an ERC-20 fails here, not on its name
        kind, _ = f.kind().call(), f.currentSnapshotId().call()
        f.getCorporateActionCount().call()
        maturity, nominal = f.maturityDate().call(), f.nominalValue().call()
        name, symbol, decimals = f.name().call(), f.symbol().call(), f.decimals().call()
    except _call_failed():
        raise NotASecurityTokenError(
            f"{token.address} is not a security token (no kind, snapshots or corporate"
            " actions)") from None
    if kind not in _KINDS:
        raise NotASecurityTokenError(f"{token.address} declares an unknown kind {kind}")
    return TokenFacts(token.address, name, symbol, decimals, _KINDS[kind],
                      _moment(maturity) if maturity else None, nominal)


def check_vault(w3: Web3, vault_address: str, *, operator: str | None,
                approver: str | None) -> None:
    """A PayoutVault on which our operator/approver hold their roles: else someone else's.

    An account given as None is not checked (an import without the worker's keys at hand
    still verifies that the address is a PayoutVault at all).
    """
    vault = _contract(w3, "PayoutVault", vault_address, ForeignVaultError, "vault")
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
    token = _contract(w3, "Stablecoin", address, PaymentTokenError, "payment token")
    try:
        actual = token.functions.decimals().call()
    except _call_failed():
        raise PaymentTokenError(f"{token.address} is not an ERC-20 (no decimals)") from None
    if actual != decimals:
        raise PaymentTokenError(f"payment token {token.address} has {actual} decimals,"
                                f" not {decimals}")


def holders_at_snapshot(w3: Web3, token: str, snapshot_id: int, *,
                        page_size: int = 1000) -> Iterator[list[tuple[str, int]]]:
    """Pages of (holder, balance at the snapshot): one page in memory at a time."""
    if page_size <= 0:
        raise ValueError("page_size must be positive")
    contract = _contract(w3, "SecurityToken", token, UnknownTokenError, "token")
    f = contract.functions
    total: int = _snapshot_view(f.getTotalTokenHoldersAtSnapshot(snapshot_id), snapshot_id)
    balances = BalanceReader(w3, contract.address, snapshot_id)
    for page, start in enumerate(range(0, total, page_size)):
        holders: list[str] = _snapshot_view(
            f.getTokenHoldersAtSnapshot(snapshot_id, page, page_size), snapshot_id)
        if len(holders) != min(page_size, total - start):
            raise TokenReadError(f"page {page} of snapshot {snapshot_id} has {len(holders)}"
                                 f" holders, the token counts {total}")
        yield list(zip(holders, balances.read(holders), strict=True))


def current_holders(w3: Web3, token: str, *,
                    page_size: int = 1000) -> Iterator[list[tuple[str, int]]]:
    """Pages of (holder, balance now): what a distribution frozen now would read."""
    if page_size <= 0:
        raise ValueError("page_size must be positive")
    contract = _contract(w3, "SecurityToken", token, UnknownTokenError, "token")
    f = contract.functions
    try:
        total: int = f.getTotalTokenHolders().call()
    except _call_failed():
        raise NotASecurityTokenError(f"{contract.address} lists no token holders") from None
    balances = BalanceReader(w3, contract.address, None)
    for page, _start in enumerate(range(0, total, page_size)):
        holders: list[str] = f.getTokenHolders(page, page_size).call()
        yield list(zip(holders, balances.read(holders), strict=True))


def corporate_actions(w3: Web3, token: str, first: int = 0) -> list[CorporateAction]:
    """The token's declared dividends/coupons from action `first` on (ids are append-only)."""
    contract = _contract(w3, "SecurityToken", token, UnknownTokenError, "token")
    f = contract.functions
    try:
        count: int = f.getCorporateActionCount().call()
        raw = [(i, f.getCorporateAction(i).call()) for i in range(first, count)]
    except _call_failed():
        raise NotASecurityTokenError(f"{contract.address} has no corporate actions") from None
    return [CorporateAction(action_id=i, kind=_ACTION_KINDS[kind], record_date=_moment(record),
                            execution_date=_moment(execution), amount_per_unit=amount)
            for i, (kind, record, execution, amount, _snapshot) in raw]


def _contract(w3: Web3, artifact: str, address: str, missing: type[TokenReadError],
              what: str) -> Contract:
    try:
        checksummed = to_checksum_address(address)
    except ValueError:
        raise missing(f"{address!r} is not an EVM address") from None
    if not w3.eth.get_code(checksummed):
        raise missing(f"no contract at {what} address {checksummed} on this chain")
    return at(w3, artifact, checksummed)


def _snapshot_view(fn: ContractFunction, snapshot_id: int) -> Any:
    try:
        return fn.call()
    except _call_failed() as err:
        decoded = translate(err)
        if getattr(decoded, "name", None) == "UnknownSnapshot":
            raise UnknownSnapshotError(f"snapshot {snapshot_id} was not taken") from None
        raise NotASecurityTokenError(f"{fn.address} cannot page holders: {decoded}") from err


def _moment(timestamp: int) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)
