"""Why a payment failed, and what happens next: the three classes every failure falls into.

- TRANSIENT: the RPC node, a nonce or fee race, a timeout. Nothing is wrong with the payment;
  the worker tries again by itself, with exponential backoff and jitter.
- HOLDER: this one holder cannot receive (blocklisted, frozen, not KYC'd, not associated).
  Retrying by itself would fail the same way: the leaf stays FAILED with its reason until an
  operator asks for a retry (after the holder's situation is fixed) or the holder claims.
- DISTRIBUTION: the whole payout is held up (the vault is short of funds, the token or the
  vault is paused). Short of funds waits for a deposit; a pause waits for an operator.

Reasons arrive as decoded custom errors ("AccountBlocked('0x…')") from `PaymentFailed` logs and
reverts, or as the gateway's transient error text; classification reads the error's name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from domain.errors import InvalidInput


class FailureClass(StrEnum):
    TRANSIENT = "TRANSIENT"
    HOLDER = "HOLDER"
    DISTRIBUTION = "DISTRIBUTION"


# Custom error names (ours, OpenZeppelin's, ATS/HTS-style) by class. Unknown names are
# treated as HOLDER: a failure we cannot explain must not be retried blindly or stop the rest.
_HOLDER_ERRORS = frozenset({
    "AccountBlocked", "AccountFrozen", "AccountNotKyc", "KycNotGranted", "NotKyc",
    "TokenNotAssociated", "TokenNotAssociatedToAccount", "ERC20InvalidReceiver",
    "AddressInsufficientBalance", "FailedCall", "SafeERC20FailedOperation",
})
# The payer (the vault) is short: OpenZeppelin's ERC20, our reference stablecoin, HTS-style.
_FUNDS_ERRORS = frozenset({"ERC20InsufficientBalance", "InsufficientBalance",
                           "InsufficientVaultBalance", "InsufficientFunds",
                           "InsufficientTokenBalance"})
_PAUSE_ERRORS = frozenset({"EnforcedPause", "TokenPaused", "VaultPaused", "Paused"})
_TRANSIENT_TEXT = ("rpc failed", "broadcast failed", "nonce too low", "replacement underpriced",
                   "fee too low", "underpriced", "timeout", "timed out", "connection",
                   "temporarily unavailable", "429", "503", "502")
_NAME = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*\(")


def error_name(reason: str) -> str:
    """The custom error's name from a decoded reason, or '' when it is not one."""
    found = _NAME.match(reason)
    return found.group(1) if found else ""


def classify(reason: str) -> FailureClass:
    name = error_name(reason)
    if name in _FUNDS_ERRORS or name in _PAUSE_ERRORS:
        return FailureClass.DISTRIBUTION
    if name:
        return FailureClass.HOLDER
    text = reason.lower()
    if any(marker in text for marker in _TRANSIENT_TEXT):
        return FailureClass.TRANSIENT
    return FailureClass.HOLDER


def is_short_of_funds(reason: str) -> bool:
    return error_name(reason) in _FUNDS_ERRORS


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with equal jitter: attempt k waits between d/2 and d, where
    d = min(cap, base * factor^(k-1)). Jitter spreads the workers a node outage stopped
    together, so they do not all hit the recovered node in the same second.

    The defaults ride out a node restart of up to ~12 s (waits of 2.5-5 s, then 10-20 s)
    before the third failure hands the batch to an operator."""

    max_attempts: int = 3
    base_seconds: float = 5.0
    factor: float = 4.0
    cap_seconds: float = 300.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.base_seconds <= 0 or self.factor < 1 \
                or self.cap_seconds < self.base_seconds:
            raise InvalidInput(f"retry policy {self} is not a backoff")

    def ceiling(self, attempt: int) -> float:
        """The longest wait after failed attempt `attempt` (1-based)."""
        return min(self.cap_seconds, self.base_seconds * self.factor ** (attempt - 1))

    def delay(self, attempt: int, unit_random: float) -> float | None:
        """Seconds to wait after failed attempt `attempt`, or None once attempts run out.

        `unit_random` in [0, 1) is passed in, so tests pin the jitter and workers use
        `random.random()`.
        """
        if not 0.0 <= unit_random < 1.0:
            raise InvalidInput("unit_random must lie in [0, 1)")
        if attempt >= self.max_attempts:
            return None
        ceiling = self.ceiling(attempt)
        return ceiling / 2 + ceiling / 2 * unit_random
