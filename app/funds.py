"""Pooled vault funds, allocated in commitment order.

A vault holds one balance per payment token, and several distributions (of one asset, or of
assets sharing a vault) can draw on it; the vault only caps each distribution at its own
committed total. So before paying, a distribution may count only what the vault holds beyond
what every distribution committed before it still owes: its net not yet paid, for as long as
that can still be paid (executing, waiting for funds, or completed with failures that holders
can still claim). Without this, a later distribution could spend a deposit an earlier one was
waiting for, and the earlier one's holders would fail for want of funds.

First committed, first served: a later distribution waits until the vault covers the earlier
ones too (or they finish, are cancelled, or expire). The order is the ledger's: the position
of each `Distribution.Committed` event.
"""

from __future__ import annotations

from uuid import UUID

from app.follow import Follower
from app.ledger import PayoutLedger
from domain.distribution import Distribution, Status

# Statuses in which a committed distribution can still draw on the vault.
OWING = frozenset({Status.COMMITTED, Status.EXECUTING, Status.WAITING_FOR_FUNDS,
                   Status.COMPLETED_WITH_FAILURES})
FINISHED = frozenset({Status.COMPLETED, Status.CANCELLED, Status.EXPIRED})


class FundsBook:
    def __init__(self, ledger: PayoutLedger) -> None:
        self.ledger = ledger
        self._committed = Follower(ledger, Distribution.Committed)
        self._order: list[UUID] = []  # committed distributions, in commitment order
        self._finished: set[UUID] = set()  # never owe again: not loaded again

    def _refresh(self) -> None:
        self._order.extend(UUID(str(n.originator_id)) for n in self._committed.new())

    def owed_ahead_of(self, distribution: Distribution, vault: str, token: str) -> int:
        """What distributions committed before `distribution` still owe from `vault`'s
        `token` balance (all committed ones, if it is not committed yet)."""
        self._refresh()
        owed = 0
        for other_id in self._order:
            if other_id == distribution.id:
                break
            if other_id in self._finished:
                continue
            other = self.ledger.get_distribution(other_id)
            if other.status in FINISHED:
                self._finished.add(other_id)
                continue
            if other.status not in OWING or other.totals is None:
                continue
            asset = self.ledger.get_asset(other.asset_id)
            if (asset.vault_address or "").lower() == vault.lower() \
                    and asset.payment_token.lower() == token.lower():
                owed += max(other.totals.net - other.amount_paid, 0)
        return owed
