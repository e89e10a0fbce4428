"""What the stand-in charges, in tinybars, so a payout's hbar cost is visible in tests and bench.

Base fees in USD per transaction type, as in the "Transaction and Query Fees" table of
https://docs.hedera.com/hedera/networks/mainnet/fees (read 2026-12-04; the page now describes
HIP-1261 "base fee + extras", and the base figures below are its low-end estimates for one
signature). They are a stand-in's approximation, not the network's exact fee: the real fee
adds extras for signatures, bytes and, for a token transfer, each balance change beyond the
first two. We charge one extra per additional token balance change for that reason, at the
same per-change rate as the base pair, so a 10-change transfer costs more than a 2-change one
but far less than five of them.

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
    "tokenAirdrop": 100_000,           # TokenAirdrop: $0.1 (includes prepaying association)
    "tokenClaimAirdrop": 1_000,        # TokenClaimAirdrop: $0.001
    "tokenCancelAirdrop": 1_000,       # TokenCancelAirdrop: $0.001
    "tokenAssociate": 50_000,          # TokenAssociate: $0.05
    "consensusCreateTopic": 10_000,    # ConsensusCreateTopic: $0.01
    "consensusSubmitMessage": 800,     # ConsensusSubmitMessage: $0.0008
    "transactionGetRecord": 100,       # TransactionGetRecord query: $0.0001
}
# Each token balance change beyond the two a TokenTransfer's base fee covers (see docstring).
_EXTRA_TOKEN_CHANGE_MICRO_USD = 500


def _tinybars(micro_usd: int) -> int:
    # micro-USD -> cents (/10_000) -> hbar (/price) -> tinybars; rounded up like a fee.
    numerator = micro_usd * TINYBARS_PER_HBAR
    denominator = 10_000 * HBAR_PRICE_CENTS
    return -(-numerator // denominator)


def fee_tinybars(kind: str, token_changes: int = 0) -> int:
    """The fee for a transaction of `kind` (a TransactionBody `data` field name)."""
    if kind == "cryptoTransfer" and token_changes:
        extra = max(0, token_changes - 2) * _EXTRA_TOKEN_CHANGE_MICRO_USD
        return _tinybars(_BASE_MICRO_USD["tokenTransfer"] + extra)
    return _tinybars(_BASE_MICRO_USD[kind])


def record_query_fee() -> int:
    return _tinybars(_BASE_MICRO_USD["transactionGetRecord"])
