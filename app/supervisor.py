"""The supervisor: nothing submitted is left unsettled, nothing planned is left unqueued.

For every executing distribution, each batch with undecided leaves is in one of these states:
- planned, never submitted → queue it (the deterministic job id absorbs duplicates);
- submitted, mined and reverted → record the rejection with its decoded reason (BLOCKED: an
  operator decides; a revert is not a holder's failure);
- submitted, mined and succeeded → nothing: the ingestor records its outcomes;
- submitted, unknown to the node past the grace period (never broadcast, or dropped) →
  queue a new attempt; the vault's bitmap makes any resubmission harmless;
- backing off after a transient fault → nothing until its `retry_at`, then queue that retry
  under the id the worker scheduled it with (a no-op if Redis still holds it).

Distributions are watched from when they start executing, resume after funds, or are retried.

Before those checks, every pass takes back the jobs of workers that died mid-job (their
heartbeat lapsed, app.jobs.reclaim_abandoned): the dead worker's job held the batch's
deterministic id, so without this the re-queue above would be a no-op for RQ's ~10 minutes.
Likewise it queues scheduled jobs (backoffs, RQ's retries) that no RQ scheduler queued in time
(app.jobs.queue_overdue): a killed worker's scheduler lock leaves them waiting for minutes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from uuid import UUID

from rq import Queue

from app.follow import Follower
from app.jobs import enqueue_batch, queue_overdue, reclaim_abandoned, schedule_retry
from app.ledger import PayoutLedger
from app.submissions import Submission, last_submission
from chain.errors import translate
from chain.gateway import EvmGateway
from domain.batch import BatchStatus, PayoutBatch
from domain.distribution import Distribution, Status

WATCHED = (Distribution.ExecutionStarted, Distribution.FundsArrived,
           Distribution.RetryRequested)


@dataclass
class Supervisor:
    ledger: PayoutLedger
    gateway: EvmGateway
    queue: Queue
    grace: timedelta = timedelta(seconds=60)
    _watched: set[UUID] = field(default_factory=set)
    _log: Follower = field(init=False)

    def __post_init__(self) -> None:
        self._log = Follower(self.ledger, *WATCHED)

    def executing(self) -> list[UUID]:
        """Distributions that ever started executing (from the ledger's notification log)."""
        self._watched.update(UUID(str(n.originator_id)) for n in self._log.new())
        return sorted(self._watched)

    def run_once(self, now: datetime | None = None) -> dict[str, int]:
        counts = {"queued": 0, "resubmitted": 0, "rejected": 0,
                  "reclaimed": len(reclaim_abandoned(self.queue)),
                  "overdue": len(queue_overdue(self.queue))}
        moment = now or datetime.now(UTC)
        for distribution_id in self.executing():
            distribution = self.ledger.get_distribution(distribution_id)
            if distribution.status is not Status.EXECUTING:
                continue
            for batch in self.ledger.batches(distribution_id):
                action = self._check(batch, moment)
                if action:
                    counts[action] += 1
        return counts

    def _check(self, batch: PayoutBatch, now: datetime) -> str | None:
        if not batch.undecided_leaves() or batch.status is BatchStatus.BLOCKED:
            return None
        if batch.retry_at is not None:  # backing off after a transient fault
            if now < batch.retry_at:
                return None
            lost = batch.tx_hashes[-1] if batch.status is BatchStatus.SUBMITTED else None
            queued = schedule_retry(self.queue, batch.id, now, batch.transient_failures,
                                    generation=batch.retries, lost_tx=lost)
            return "queued" if queued else None
        if batch.status is not BatchStatus.SUBMITTED:
            queued = enqueue_batch(self.queue, batch.id, batch.attempts,
                                   generation=batch.retries)
            return "queued" if queued else None
        last = batch.tx_hashes[-1]
        state = last_submission(self.gateway, batch, now, self.grace)
        if state is Submission.REVERTED:
            self.ledger.reject_submission(batch.id, tx_hash=last, reason=self._revert(last))
            return "rejected"
        if state is not Submission.LOST:
            return None  # mined (the ingestor brings its outcomes), pending, or settled
        queued = enqueue_batch(self.queue, batch.id, batch.attempts, lost_tx=last,
                               generation=batch.retries)
        return "resubmitted" if queued else None

    def _revert(self, tx_hash: str) -> str:
        """Why a mined transaction reverted: replay it at its block and decode the error."""
        w3 = self.gateway.w3
        tx = w3.eth.get_transaction(tx_hash)  # type: ignore[arg-type]
        try:
            w3.eth.call({"from": tx["from"], "to": tx["to"], "data": tx["input"],
                         "gas": tx["gas"]}, tx["blockNumber"] - 1)
        except Exception as err:  # noqa: BLE001 - the replay exists to decode the reason
            return str(translate(err))
        return "reverted (out of gas or not reproducible)"
