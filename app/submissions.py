"""Where a batch's last submission stands on-chain: the one ladder the executor (before it
signs again) and the supervisor (before it re-queues or blocks) both climb."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from chain.gateway import EvmGateway
from domain.batch import BatchStatus, PayoutBatch


class Submission(StrEnum):
    NONE = "none"  # nothing submitted and unsettled
    MINED = "mined"  # succeeded: the ingestor brings its outcomes
    REVERTED = "reverted"  # mined and reverted: not a holder's failure
    IN_MEMPOOL = "in the node's mempool"
    RECENT = "signed moments ago"  # unseen yet, but within the grace period
    LOST = "lost"  # never broadcast (a crash) or dropped: safe to resend, the bitmap guards


def last_submission(gateway: EvmGateway, batch: PayoutBatch, now: datetime,
                    grace: timedelta, *, no_grace_for: str | None = None) -> Submission:
    if batch.status is not BatchStatus.SUBMITTED or not batch.tx_hashes:
        return Submission.NONE
    last = batch.tx_hashes[-1]
    if last in batch.settled_txs:
        return Submission.NONE
    receipt = gateway.receipt(last)
    if receipt is not None:
        return Submission.MINED if receipt["status"] == 1 else Submission.REVERTED
    if gateway.transaction_known(last):
        return Submission.IN_MEMPOOL
    recent = batch.last_signed_at is not None and now - batch.last_signed_at < grace
    return Submission.RECENT if recent and last != no_grace_for else Submission.LOST
