"""Hedera response codes (by name, as the SDK's `ResponseCode` and the Mirror Node's `result`
spell them) sorted into the three failure classes of domain/failures.py.

Two facts of the network shape this table:
- a CryptoTransfer or TokenAirdrop is atomic: a HOLDER code fails the whole batch and the
  receipt does not say which holder; the rail isolates the batch (pays its holders one by one)
  to find out, and TOKEN_NOT_ASSOCIATED_TO_ACCOUNT is answered with a TokenAirdrop instead;
- a code is the transaction's final status only when it came from a receipt or a record. At
  precheck nothing executed; those codes are in PRECHECK_RETRY (same TransactionId, later) or
  PRECHECK_REBUILD (that TransactionId can never execute: a new one is safe).

An unknown code is HOLDER, as in domain/failures.py: it must not be retried blindly, nor
stop the rest of the distribution.
"""

from __future__ import annotations

from domain.failures import FailureClass

SUCCESS = "SUCCESS"

TRANSIENT_CODES = frozenset({
    "BUSY", "PLATFORM_NOT_ACTIVE", "PLATFORM_TRANSACTION_NOT_CREATED", "UNKNOWN",
    "INVALID_NODE_ACCOUNT", "THROTTLED_AT_CONSENSUS",
})
HOLDER_CODES = frozenset({
    "TOKEN_NOT_ASSOCIATED_TO_ACCOUNT", "ACCOUNT_FROZEN_FOR_TOKEN",
    "ACCOUNT_KYC_NOT_GRANTED_FOR_TOKEN", "ACCOUNT_DELETED", "INVALID_ACCOUNT_ID",
    "ACCOUNT_EXPIRED_AND_PENDING_REMOVAL",
})
DISTRIBUTION_CODES = frozenset({
    "INSUFFICIENT_TOKEN_BALANCE", "INSUFFICIENT_PAYER_BALANCE", "INSUFFICIENT_ACCOUNT_BALANCE",
    "INSUFFICIENT_TX_FEE", "INVALID_SIGNATURE", "PAYER_ACCOUNT_NOT_FOUND",
    "PAYER_ACCOUNT_DELETED", "TOKEN_IS_PAUSED", "TOKEN_WAS_DELETED", "INVALID_TOKEN_ID",
})
# Refused at precheck, nothing executed, and the same TransactionId may still execute later.
PRECHECK_RETRY = TRANSIENT_CODES
# Refused at precheck and that TransactionId can never execute: rebuild with a new one.
PRECHECK_REBUILD = frozenset({"TRANSACTION_EXPIRED", "INVALID_TRANSACTION_START"})
# At precheck: the payer cannot pay the fee in hbar. A distribution-level stop, resumed once
# the payer is funded (every batch sharing the payer would be refused alike).
PAYER_SHORT_CODES = frozenset({"INSUFFICIENT_PAYER_BALANCE"})
# Not an outcome at all: the network already has this TransactionId; look its outcome up.
ALREADY_SUBMITTED = "DUPLICATE_TRANSACTION"


def classify_status(name: str) -> FailureClass | None:
    """None for SUCCESS; otherwise the class of a final (receipt or record) status."""
    if name == SUCCESS:
        return None
    if name in TRANSIENT_CODES:
        return FailureClass.TRANSIENT
    if name in DISTRIBUTION_CODES:
        return FailureClass.DISTRIBUTION
    return FailureClass.HOLDER


def wants_airdrop(name: str) -> bool:
    """A holder not associated with the payment token can still be paid: by TokenAirdrop,
    pending until the holder claims it (HIP-904)."""
    return name == "TOKEN_NOT_ASSOCIATED_TO_ACCOUNT"
