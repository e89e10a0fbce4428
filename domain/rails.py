"""How a distribution's holders are paid: the PayoutVault contract (VAULT, the default) or
native Hedera token transfers (HTS, issue #18; docs/hts-rail.md).

The choice is recorded once, when the distribution is created, and checked against the asset
there: an HTS payment needs a Hedera asset whose payment token is an HTS token (its EVM
address is a long-zero address, 0x000…<token number>), and cannot redeem a bond (a CASH_OUT
burns units through the vault's `cashOut`; a transfer would pay principal and leave them),
nor start ON_DEPOSIT (that watches the vault's balance, which an HTS payout does not draw on).
"""

from __future__ import annotations

from enum import StrEnum

from domain import accounts
from domain.errors import InvalidInput
from domain.network import HEDERA_CHAIN_IDS
from domain.terms import DistributionKind, Trigger


class Rail(StrEnum):
    VAULT = "VAULT"
    HTS = "HTS"


class RailNotAvailable(InvalidInput):
    """The chosen rail cannot pay this distribution (refused before anything is recorded)."""


def parse_rail(value: str) -> Rail:
    try:
        return Rail(value.upper())
    except ValueError:
        raise InvalidInput(f"rail must be one of {', '.join(Rail)}, not {value!r}") from None


def check_rail(rail: Rail, *, chain_id: int, payment_token: str,
               kind: DistributionKind, trigger: Trigger | None = None) -> None:
    if rail is Rail.VAULT:
        return
    if chain_id not in HEDERA_CHAIN_IDS.values():
        raise RailNotAvailable(f"the HTS rail pays on Hedera; this asset is on chain {chain_id}")
    if accounts.hedera_id(payment_token) is None:
        raise RailNotAvailable(f"the HTS rail pays an HTS token; {payment_token} is not one"
                               " (an HTS token's address is a long-zero address)")
    if kind is DistributionKind.CASH_OUT:
        raise RailNotAvailable("a CASH_OUT redeems units through the vault (cashOut); the HTS"
                               " rail cannot redeem them")
    if trigger is Trigger.ON_DEPOSIT:
        # It watches the vault's balance, and an HTS payout draws on the payout account:
        # accepted, it would wait for a deposit that can never be seen.
        raise RailNotAvailable("ON_DEPOSIT starts when the vault holds the funds; the HTS rail"
                               " pays from the payout account, not the vault: start it"
                               " manually or at a scheduled time")


def hts_token_id(payment_token: str) -> str:
    """`0.0.num` of an HTS payment token from its long-zero address."""
    token = accounts.hedera_id(payment_token)
    if token is None:
        raise RailNotAvailable(f"{payment_token} is not an HTS token's address")
    return token
