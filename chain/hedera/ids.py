"""Hedera identities at the edge: parsed with hiero-sdk-python's types, resolved through the
Mirror Node to the one spelling the ledger stores.

An account has up to three spellings: `0.0.num`, its long-zero EVM address (the id packed
into 20 bytes) and, for an ECDSA account, its alias EVM address (keccak of its key). Tokens
and vault logs name a holder by whichever EVM address it used, so the ledger's canonical form
is the account's `evm_address` as the Mirror Node reports it (the alias when there is one,
else the long-zero address), checksummed. `domain.accounts.canonical` stays offline and pure;
this module is what asks the network.

Resolution is in bulk and cached, never one request per holder per batch: the ids of a page
of balances or a batch go in one `/api/v1/accounts?account.id=…` request (up to 100 repeated
`account.id` values, as the node's own spec `rest/__tests__/specs/accounts/multiple-ids.json`
at 94ea736b6229e60090930cc591de1407bb73f20d asks it; a plain account's `evm_address` there is
its long-zero address); an alias, which that list cannot filter by, costs one
`/api/v1/accounts/{evmAddress}` once per process (an alias never moves to another account).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from eth_utils.address import to_checksum_address
from hiero_sdk_python import AccountId, ContractId, TokenId

from chain.hedera.errors import AccountNotFound, InvalidHederaId, MirrorNodeInconsistent
from chain.hedera.mirror_client import MirrorNodeClient

_LONG_ZERO_PREFIX = bytes(12)  # shard (4 bytes) and realm (8 bytes) of shard 0, realm 0


@dataclass(frozen=True, slots=True)
class HederaAccount:
    account_id: str  # 0.0.num
    evm_address: str  # checksummed: the canonical spelling the ledger stores


def parse_account(text: str) -> AccountId:
    """`0.0.num` (optionally `-checksum`), a long-zero or an alias EVM address. A long-zero
    address comes back as its numeric id; an alias keeps its `evm_address`."""
    try:
        account = AccountId.from_string(text)
    except (TypeError, ValueError) as err:
        raise InvalidHederaId(f"{text!r} is not a Hedera account (0.0.num or an EVM"
                              f" address): {err}") from None
    if account.alias_key is not None:
        raise InvalidHederaId(f"{text!r}: a public-key alias; give the account id or its EVM"
                              " address")
    if account.evm_address is not None:
        raw = bytes(account.evm_address.address_bytes)
        if raw[:12] == _LONG_ZERO_PREFIX:
            return AccountId(shard=account.shard, realm=account.realm,
                             num=int.from_bytes(raw[12:], "big"))
    return account


def parse_token(text: str) -> TokenId:
    """`0.0.num` or the token's long-zero EVM address (how HTS tokens appear to the EVM)."""
    if text.startswith("0x"):
        account = parse_account(text)
        if account.evm_address is not None:
            raise InvalidHederaId(f"{text!r}: an HTS token's EVM address is long-zero")
        return TokenId(shard=account.shard, realm=account.realm, num=account.num)
    try:
        return TokenId.from_string(text)
    except (TypeError, ValueError) as err:
        raise InvalidHederaId(f"{text!r} is not a token id (0.0.num): {err}") from None


def parse_contract(text: str) -> ContractId:
    try:
        if text.startswith("0x"):
            return ContractId.from_evm_address(0, 0, text)
        return ContractId.from_string(text)
    except (TypeError, ValueError) as err:
        raise InvalidHederaId(f"{text!r} is not a contract (0.0.num or an EVM address):"
                              f" {err}") from None


def _key(account: AccountId) -> str:
    if account.evm_address is not None:
        return "0x" + bytes(account.evm_address.address_bytes).hex()
    return f"{account.shard}.{account.realm}.{account.num}"


class AccountResolver:
    """Spellings of accounts -> `HederaAccount`, through the Mirror Node, cached."""

    def __init__(self, client: MirrorNodeClient) -> None:
        self.client = client
        self._known: dict[str, HederaAccount] = {}

    def resolve(self, references: Iterable[str]) -> dict[str, HederaAccount]:
        """Each reference's account; AccountNotFound names the first the network lacks."""
        refs = list(dict.fromkeys(references))
        keys = {ref: _key(parse_account(ref)) for ref in refs}
        missing = sorted({k for k in keys.values() if k not in self._known})
        ids = [k for k in missing if not k.startswith("0x")]
        if ids:
            found = {}
            for row in self.client.accounts(ids):
                account = _account(row)
                found[account.account_id] = account
            for key in ids:
                if key not in found:
                    raise AccountNotFound(f"account {key} does not exist on the network")
                self._remember(found[key])
        for alias in (k for k in missing if k.startswith("0x")):
            answer = self.client.account(alias)
            if answer is None:
                raise AccountNotFound(f"no account has the EVM address {alias}")
            account = _account(answer)
            self._known[alias] = account
            self._remember(account)
        return {ref: self._known[keys[ref]] for ref in refs}

    def _remember(self, account: HederaAccount) -> None:
        self._known[account.account_id] = account
        self._known[account.evm_address.lower()] = account


def _account(row: dict[str, Any]) -> HederaAccount:
    account_id, evm = row.get("account"), row.get("evm_address")
    if not isinstance(account_id, str):
        raise MirrorNodeInconsistent(f"an account without its id: {row!r:.200}")
    parsed = parse_account(account_id)
    if evm is None:
        evm = "0x" + (parsed.shard.to_bytes(4, "big") + parsed.realm.to_bytes(8, "big")
                      + parsed.num.to_bytes(8, "big")).hex()
    try:
        return HederaAccount(account_id, to_checksum_address(
            evm if str(evm).startswith("0x") else "0x" + str(evm)))
    except ValueError:
        raise MirrorNodeInconsistent(f"account {account_id}: evm_address {evm!r}") from None
