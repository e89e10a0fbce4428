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
A batch of an HTS distribution is only ever queued again (`_check_hts`): its executor finds
its TransactionIds' fates itself.

Distributions are watched from when they start executing, resume after funds, or are retried.

Before those checks, every pass takes back the jobs of workers that died mid-job (their
heartbeat lapsed, app.jobs.reclaim_abandoned): the dead worker's job held the batch's
deterministic id, so without this the re-queue above would be a no-op for RQ's ~10 minutes.
Likewise it queues scheduled jobs (backoffs, RQ's retries) that no RQ scheduler queued in time
(app.jobs.queue_overdue): a killed worker's scheduler lock leaves them waiting for minutes.

A job RQ failed for good (its retries spent through a long PostgreSQL outage) still holds the
batch's deterministic id, so "queue it" above goes through `app.owed_jobs.ensure`: a failed
job is queued again after a while, a bounded number of times, then the batch is BLOCKED with
the job's last error for an operator. The same check covers the jobs of admin-key workers
(`sources`: approved treasury operations, app.treasury.OwedTreasuryJobs, and vault requests,
app.owed_vault_ops.OwedVaultOpJobs), whose jobs a lost
Redis or a long outage would otherwise leave undone until that worker's next start.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from uuid import UUID

from rq import Queue

from app.follow import Follower
from app.jobs import (
    enqueue_batch,
    job_id,
    queue_overdue,
    reclaim_abandoned,
    retry_job_id,
    schedule_retry,
)
from app.ledger import PayoutLedger
from app.owed_jobs import MAX_REVIVALS, REVIVE_AFTER, Ensured, OwedJob, OwedJobs, ensure
from app.submissions import Submission, last_submission
from chain.errors import translate
from chain.gateway import EvmGateway
from domain.batch import BatchStatus, PayoutBatch
from domain.distribution import Distribution, Status
from domain.rails import Rail

WATCHED = (Distribution.ExecutionStarted, Distribution.FundsArrived,
           Distribution.RetryRequested)


# Revivals of a job that only follows an HTS batch (pending airdrops, a blocked batch's open
# TransactionIds): never given up on while there is something to follow.
FOLLOW_FOREVER = 1 << 62

@dataclass
class Supervisor:
    ledger: PayoutLedger
    gateway: EvmGateway
    queue: Queue
    grace: timedelta = timedelta(seconds=60)
    sources: list[OwedJobs] = field(default_factory=list)  # other workers' owed jobs
    revive_after: timedelta = REVIVE_AFTER  # a job RQ failed is queued again after this
    max_revivals: int = MAX_REVIVALS  # ... this many times, then it is an operator's
    follow_airdrops: timedelta = timedelta(seconds=30)  # HTS: how often claims are read
    _watched: set[UUID] = field(default_factory=set)
    _followed: dict[UUID, datetime] = field(default_factory=dict)
    _log: Follower = field(init=False)

    def __post_init__(self) -> None:
        self._log = Follower(self.ledger, *WATCHED)

    def executing(self) -> list[UUID]:
        """Distributions that ever started executing (from the ledger's notification log)."""
        self._watched.update(UUID(str(n.originator_id)) for n in self._log.new())
        return sorted(self._watched)

    def run_once(self, now: datetime | None = None) -> dict[str, int]:
        counts = {"queued": 0, "resubmitted": 0, "rejected": 0, "revived": 0, "gave_up": 0,
                  "reclaimed": len(reclaim_abandoned(self.queue)),
                  "overdue": len(queue_overdue(self.queue))}
        moment = now or datetime.now(UTC)
        for distribution_id in self.executing():
            distribution = self.ledger.get_distribution(distribution_id)
            hts = distribution.rail is Rail.HTS
            if hts and distribution.status is Status.WAITING_FOR_FUNDS:
                counts["queued"] += self._hts_funding(distribution, moment)
                continue
            if distribution.status is not Status.EXECUTING:
                continue
            for batch in self.ledger.batches(distribution_id):
                action = self._check_hts(batch, moment) if hts else self._check(batch, moment)
                if action:
                    counts[action] += 1
        for source in self.sources:
            for owed in source.owed():
                done = self._ensure(owed, moment)
                if done is not None:
                    key = f"{source.name}_{done.value}"  # e.g. treasury_queued
                    counts[key] = counts.get(key, 0) + 1
        return counts

    def _check(self, batch: PayoutBatch, now: datetime) -> str | None:
        if not batch.undecided_leaves() or batch.status is BatchStatus.BLOCKED:
            return None
        if batch.retry_at is not None:  # backing off after a transient fault
            if now < batch.retry_at:
                return None
            lost = batch.tx_hashes[-1] if batch.status is BatchStatus.SUBMITTED else None
            return self._ensure_batch(
                batch, now, retry_job_id(batch.id, batch.transient_failures, batch.retries),
                lambda: schedule_retry(self.queue, batch.id, now, batch.transient_failures,
                                       generation=batch.retries, lost_tx=lost), "queued")
        if batch.status is not BatchStatus.SUBMITTED:
            return self._ensure_batch(
                batch, now, job_id(batch.id, batch.attempts, batch.retries),
                lambda: enqueue_batch(self.queue, batch.id, batch.attempts,
                                      generation=batch.retries), "queued")
        last = batch.tx_hashes[-1]
        state = last_submission(self.gateway, batch, now, self.grace)
        if state is Submission.REVERTED:
            self.ledger.reject_submission(batch.id, tx_hash=last, reason=self._revert(last))
            return "rejected"
        if state is not Submission.LOST:
            return None  # mined (the ingestor brings its outcomes), pending, or settled
        return self._ensure_batch(
            batch, now, job_id(batch.id, batch.attempts, batch.retries),
            lambda: enqueue_batch(self.queue, batch.id, batch.attempts, lost_tx=last,
                                  generation=batch.retries), "resubmitted")

    def _ensure_batch(self, batch: PayoutBatch, now: datetime, jid: str,
                      enqueue: Callable[[], bool], queued: str) -> str | None:
        """Queue the batch's job (`queued` names the count), revive it if RQ failed it, or,
        past the bound, block the batch with the job's last error (an operator's retry
        starts a new generation: a fresh job id)."""
        def give_up(reason: str) -> None:
            self.ledger.record_attempt_failure(batch.id, reason=reason, retry_at=None)

        done = self._ensure(OwedJob(self.queue, jid, enqueue, give_up), now)
        if done is None:
            return None
        return queued if done is Ensured.QUEUED else done.value

    def _ensure(self, owed: OwedJob, now: datetime) -> Ensured | None:
        return ensure(owed, now, after=self.revive_after, limit=self.max_revivals)

    def _check_hts(self, batch: PayoutBatch, now: datetime) -> str | None:
        """An HTS batch is never judged by an EVM transaction hash: its TransactionIds'
        fates are the HTS executor's to find (a receipt, else the Mirror Node). While it has
        undecided leaves, a job for it is queued whenever none is queued or running (its job
        ids are forgotten once they ran): a lost job, or one that left a transaction in
        flight, is picked up again within one pass. A batch whose only open leaves are
        pending airdrops is queued every `follow_airdrops`, to read their claims."""
        blocked = batch.status is BatchStatus.BLOCKED
        if blocked or not batch.undecided_leaves():
            # Only pending airdrops left, or its payments wait for an operator: its pending
            # airdrops' claims are still read (past the claim deadline they are cancelled),
            # and its open TransactionIds' fates found (never sent again while blocked), by
            # the batch's job every `follow_airdrops`. Left unfollowed, a blocked batch's
            # airdrop in flight would hold every merged cancellation back for good.
            last = self._followed.get(batch.id)
            if not (batch.hts_pending or (blocked and batch.hts_open)) \
                    or (last is not None and now - last < self.follow_airdrops):
                return None
            self._followed[batch.id] = now
            # Following pays nobody, so there is no attempt to give up on: a job RQ failed
            # (the Mirror Node down for a while) is revived after `revive_after`, always.
            # Its job id is the follower's own: a blocked batch's last payment job may be
            # one RQ failed for good (given up on, never queued again).
            done = ensure(OwedJob(self.queue,
                                  job_id(batch.id, batch.attempts, batch.retries) + "-follow",
                                  lambda: enqueue_batch(self.queue, batch.id, batch.attempts,
                                                        generation=batch.retries, hts=True,
                                                        following=True),
                                  None), now, after=self.revive_after, limit=FOLLOW_FOREVER)
            return None if done is None else "queued" if done is Ensured.QUEUED else done.value
        if batch.retry_at is not None and now < batch.retry_at:
            return None
        return self._ensure_batch(  # a job RQ failed for good is revived as on the EVM rail
            batch, now, job_id(batch.id, batch.attempts, batch.retries),
            lambda: enqueue_batch(self.queue, batch.id, batch.attempts,
                                  generation=batch.retries, hts=True), "queued")

    def _hts_funding(self, distribution: Distribution, now: datetime) -> int:
        """An HTS distribution stopped for want of the payer's hbar: every `follow_airdrops`,
        one of its batches' jobs is queued; the worker (the payout account) resumes it once
        the payer is funded (`HtsBatchExecutor.resume_after_funding`), then pays the batch."""
        last = self._followed.get(distribution.id)
        if last is not None and now - last < self.follow_airdrops:
            return 0
        self._followed[distribution.id] = now
        batch = next((b for b in self.ledger.batches(distribution.id)
                      if b.undecided_leaves() and b.status is not BatchStatus.BLOCKED), None)
        if batch is None:
            return 0
        return int(enqueue_batch(self.queue, batch.id, batch.attempts,
                                 generation=batch.retries, hts=True))

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
