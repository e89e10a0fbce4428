"""What the stand-in charges, in tinybars, so a payout's hbar cost is visible in tests and bench.

Base fees in USD per transaction type, as in the "Transaction and Query Fees" table of
https://docs.hedera.com/hedera/networks/mainnet/fees (read 2026-12-04; the page now describes
HIP-1261 "base fee + extras", and the base figures below are its low-end estimates for one
signature). They are a stand-in's approximation, not the network's exact fee.

A token transfer follows HIP-1261's schedule: node + network fee $0.0001 (one signature
included), the TOKEN_TRANSFER_BASE service extra $0.0009, and the ACCOUNTS extra $0.0001 for
every account beyond the two included; one fungible token type is included. So 2 accounts cost
the table's $0.001 and a 10-change transfer (9 holders + the payer) $0.0018. Source: the
Simple Fees schedule's constants in hiero-consensus-node, hedera-node/test-clients/.../hip1261/
utils/SimpleFeesScheduleConstantsInUsd.java (NODE_BASE_FEE_USD, NETWORK_MULTIPLIER,
TOKEN_TRANSFER_BASE_FEE_USD, ACCOUNTS_FEE_USD, CRYPTO_TRANSFER_INCLUDED_ACCOUNTS), read
2026-12-04. A TokenAirdrop is charged as that token transfer plus, for every pending airdrop
it leaves (a receiver not associated), HIP-1261's AIRDROPS extra $0.05, and for each one that
is new (no pending airdrop from the sender to that receiver of that token yet) the association
it prepays, TOKEN_ASSOCIATE_FEE $0.05 (TOKEN_AIRDROP_BASE_FEE_USD is 0, none included): as
the same suite's `validateChargedUsd("airdrop", TOKEN_TRANSFER_FEE + 2 * AIRDROPS_FEE_USD +
2 * TOKEN_ASSOCIATE_FEE)`. Associated receivers of an airdrop are charged as a transfer's.

The hbar price is pinned (the network reads it from its exchange-rate file 0.0.112); with it
fixed, the same transaction always costs the same tinybars, which is what a test can assert.
"""

from __future__ import annotations

# USD cents per hbar the stand-in's exchange rate assumes (the network's file 0.0.112).
HBAR_PRICE_CENTS = 12
TINYBARS_PER_HBAR = 100_000_000

# USD "micro-dollars" (1e-6 USD) per transaction type, the table's base fees.
_BASE_MICRO_USD = {
    "cryptoTransfer": 100,             # CryptoTransfer (hbar): $0.0001
    "tokenTransfer": 1_000,            # TokenTransfer (fungible, 2 balance changes): $0.001
    "tokenClaimAirdrop": 1_000,        # TokenClaimAirdrop: $0.001
    "tokenCancelAirdrop": 1_000,       # TokenCancelAirdrop: $0.001
    "tokenAssociate": 50_000,          # TokenAssociate: $0.05
    "consensusCreateTopic": 10_000,    # ConsensusCreateTopic: $0.01
    "consensusSubmitMessage": 800,     # ConsensusSubmitMessage: $0.0008
    "transactionGetRecord": 100,       # TransactionGetRecord query: $0.0001
}
# HIP-1261's ACCOUNTS extra: each account beyond the two a TokenTransfer includes.
_EXTRA_ACCOUNT_MICRO_USD = 100
_INCLUDED_ACCOUNTS = 2
# HIP-1261's AIRDROPS extra per pending airdrop, and the association a new one prepays.
_PENDING_AIRDROP_MICRO_USD = 50_000
_PREPAID_ASSOCIATION_MICRO_USD = 50_000


def _tinybars(micro_usd: int) -> int:
    # micro-USD -> cents (/10_000) -> hbar (/price) -> tinybars; rounded up like a fee.
    numerator = micro_usd * TINYBARS_PER_HBAR
    denominator = 10_000 * HBAR_PRICE_CENTS
    return -(-numerator // denominator)


def fee_tinybars(kind: str, token_changes: int = 0, *, pending: int = 0,
                 new_pending: int = 0) -> int:
    """The fee for a transaction of `kind` (a TransactionBody `data` field name); for an
    airdrop, `pending` of its receivers are not associated, `new_pending` of them with no
    pending airdrop from the sender yet."""
    if kind in ("cryptoTransfer", "tokenAirdrop") and token_changes:
        extra = max(0, token_changes - _INCLUDED_ACCOUNTS) * _EXTRA_ACCOUNT_MICRO_USD
        airdrop = (pending * _PENDING_AIRDROP_MICRO_USD
                   + new_pending * _PREPAID_ASSOCIATION_MICRO_USD) if kind == "tokenAirdrop" else 0
        return _tinybars(_BASE_MICRO_USD["tokenTransfer"] + extra + airdrop)
    return _tinybars(_BASE_MICRO_USD[kind])


def record_query_fee() -> int:
    return _tinybars(_BASE_MICRO_USD["transactionGetRecord"])
