"""Exactly once without a bitmap: what a recorded TransactionId's fate is, and when it is safe
to pay the same holders under a new one.

The network executes a TransactionId at most once (it deduplicates it) and never after its
validity window (valid start + valid duration, at most 180 s). So, for a TransactionId that was
recorded before it was submitted, exactly one of these holds:
- SETTLED: a receipt (from a node, kept ~180 s after consensus) or a record (from the Mirror
  Node, kept for good) names its final status: success or a failure with a reason;
- IN_FLIGHT: no final status yet, and either the window is still open (it may still execute)
  or the Mirror Node has not yet caught up past the window's end: ask again later;
- DEAD: the window closed (plus a margin for the clocks' skew), the Mirror Node has indexed
  beyond that moment, and it has no record: it never executed and never will. Only now may the
  same holders be paid under a new TransactionId.
Never guess: no answer is IN_FLIGHT, which waits, and waiting is safe; guessing DEAD is not.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from domain.errors import InvalidInput

NANOS = 1_000_000_000
MAX_VALID_SECONDS = 180
# Our clock against the network's consensus clock: NTP-disciplined hosts stay well inside it.
DEFAULT_SKEW_SECONDS = 10
# A receipt status that is not final: the transaction has not reached consensus yet.
NOT_FINAL = frozenset({"UNKNOWN", "OK", "RECEIPT_NOT_FOUND", "RECORD_NOT_FOUND", ""})


class Verdict(StrEnum):
    SETTLED = "SETTLED"
    IN_FLIGHT = "IN_FLIGHT"
    DEAD = "DEAD"


@dataclass(frozen=True, slots=True)
class TxWindow:
    """When a TransactionId may execute: [valid start, valid start + valid seconds)."""

    valid_start_ns: int
    valid_seconds: int

    def __post_init__(self) -> None:
        if self.valid_start_ns <= 0 or not 1 <= self.valid_seconds <= MAX_VALID_SECONDS:
            raise InvalidInput(f"a validity window is 1..{MAX_VALID_SECONDS} s from a valid start")

    @property
    def closes_at(self) -> float:
        return self.valid_start_ns / NANOS + self.valid_seconds


@dataclass(frozen=True, slots=True)
class Fate:
    verdict: Verdict
    status: str | None = None  # the final status when SETTLED


def decide(window: TxWindow, *, now: float, receipt_status: str | None,
           history_status: str | None, history_indexed_until: float | None,
           skew_seconds: float = DEFAULT_SKEW_SECONDS) -> Fate:
    """The fate of a recorded TransactionId from what a node and the Mirror Node said.

    `receipt_status`/`history_status` are None when they had no answer; `history_indexed_until`
    is the consensus time up to which the Mirror Node has ingested (None: unknown)."""
    for status in (receipt_status, history_status):
        if status is not None and status not in NOT_FINAL:
            return Fate(Verdict.SETTLED, status)
    closed = window.closes_at + skew_seconds
    if now < closed or history_indexed_until is None or history_indexed_until < closed:
        return Fate(Verdict.IN_FLIGHT)
    return Fate(Verdict.DEAD)
