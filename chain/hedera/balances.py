"""Who held an HTS-native token at a consensus timestamp, from the Mirror Node, checked.

`/api/v1/tokens/{id}/balances?timestamp=lte:T` answers the balances of the newest balance
snapshot at or before T (its `timestamp`), 100 accounts a page by account id. A snapshot is
accepted only whole and consistent: every page from the same snapshot, accounts strictly
ascending across pages, and the balances adding up to the token's `total_supply` at that
snapshot's timestamp (`/api/v1/tokens/{id}?timestamp=`). A snapshot that does not add up would
pay the wrong people, so it raises `BalancesDisagree` and nothing is returned.

Holders come back under their canonical EVM address (`ids.AccountResolver`, one bulk
request per page).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chain.hedera.errors import BalancesDisagree, MirrorNodeInconsistent, NotAFungibleToken
from chain.hedera.ids import AccountResolver, parse_account, parse_token
from chain.hedera.mirror_client import MirrorNodeClient


@dataclass(frozen=True, slots=True)
class TokenBalances:
    token_id: str
    timestamp: str | None  # the snapshot's consensus timestamp (None: no snapshot yet)
    decimals: int
    total_supply: int
    balances: dict[str, int]  # canonical EVM address -> balance in the token's smallest unit


def token_balances_at(client: MirrorNodeClient, resolver: AccountResolver, token: str,
                      timestamp: str) -> TokenBalances:
    token_id = str(parse_token(token))
    info = client.token(token_id)
    if info is None:
        raise NotAFungibleToken(f"{token_id} is not a token on the network")
    if info.get("type") != "FUNGIBLE_COMMON":
        raise NotAFungibleToken(f"{token_id} is a {info.get('type')} token, not a fungible one")
    snapshot: str | None = None
    balances: dict[str, int] = {}
    last_num = -1
    for number, page in enumerate(client.token_balances(token_id, timestamp)):
        stamp, rows = page.get("timestamp"), page.get("balances")
        if number and stamp != snapshot:
            raise MirrorNodeInconsistent(f"{token_id}: pages of two snapshots ({snapshot},"
                                         f" {stamp})")
        snapshot = stamp if isinstance(stamp, str) else None
        if not isinstance(rows, list):
            raise MirrorNodeInconsistent(f"{token_id}: a balances page without balances")
        accounts = [_row(r, token_id) for r in rows]
        for account_id, _ in accounts:
            num = parse_account(account_id).num
            if num <= last_num:
                raise MirrorNodeInconsistent(f"{token_id}: account {account_id} out of order"
                                             " (a page out of order or overlapping)")
            last_num = num
        resolved = resolver.resolve(a for a, _ in accounts)
        for account_id, balance in accounts:
            holder = resolved[account_id].evm_address
            balances[holder] = balances.get(holder, 0) + balance
    at_snapshot = client.token(token_id, snapshot) if snapshot else info
    supply = _int_text((at_snapshot or {}).get("total_supply"), f"{token_id} total_supply")
    held = sum(balances.values())
    if held != supply:
        raise BalancesDisagree(f"{token_id} at {snapshot}: holders hold {held} but the total"
                               f" supply is {supply}; snapshot refused")
    return TokenBalances(token_id, snapshot, _int_text(info.get("decimals"), "decimals"),
                         supply, balances)


def _row(row: Any, token_id: str) -> tuple[str, int]:
    if not isinstance(row, dict) or not isinstance(row.get("account"), str) \
            or not isinstance(row.get("balance"), int) or row["balance"] < 0:
        raise MirrorNodeInconsistent(f"{token_id}: a malformed balance row {row!r:.200}")
    return row["account"], row["balance"]


def _int_text(value: Any, what: str) -> int:
    """The OpenAPI gives `total_supply` and `decimals` of a token as strings."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    raise MirrorNodeInconsistent(f"{what}: {value!r} is not a whole number")
