"""A STAND-IN for the Hedera network, for tests and local runs: this machine cannot reach
Hedera, so the HTS rail is tested against this in-memory, one-node network served over gRPC
with the protobufs that ship with hiero-sdk-python.

It enforces what the real network enforces that matters to a payout: the payer's signature
over the body bytes, TransactionId deduplication and the validity window, hbar fees, token
balances, association, freeze and KYC, atomic transfers, the 10-change transfer-list limit and
the 6,144-byte transaction limit, HIP-904 airdrops, HCS topics; and it can be made BUSY or to
lose its answers. It is not the network: no gossip, one node, consensus in submission order.
"""

from __future__ import annotations

from devtools.hedera_standin.server import StandinNetwork

__all__ = ["StandinNetwork"]
