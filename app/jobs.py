"""RQ jobs. They are tiny: each delegates to the BatchExecutor built once per worker process.

Job ids are deterministic and enqueued with `unique=True`, so a doubled dispatcher or a replay
never queues the same attempt twice; a job run twice is still harmless (the executor and the
vault's bitmap make it a no-op).

Transient chain faults are the executor's to classify: it records `AttemptFailed` with the
backoff's `retry_at`, and the job schedules that attempt (`execute-<batch>-t<n>`, which the
supervisor would queue with the same id should Redis lose the schedule). RQ's own retry is
only a backstop for the unexpected (a bug, PostgreSQL away).

A worker killed mid-job (SIGKILL, OOM, a lost host) leaves its job in RQ's started registry
holding the deterministic id; RQ would hand it back only at its own maintenance, ~10 minutes
later, and every re-queue meanwhile is a DuplicateJobError. So the worker (`PayoutWorker`)
keeps RQ's execution heartbeat going while it runs a job, and the supervisor calls
`reclaim_abandoned` on every pass: a job whose heartbeat lapsed goes through RQ's own
abandoned-job handling at once, then runs without a backoff. A killed worker's batch is paid
again within seconds; a slow worker that is alive keeps its job.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

from rq import Queue, Retry
from rq.exceptions import DuplicateJobError, InvalidJobOperation, NoSuchJobError
from rq.executions import Execution
from rq.job import Job, JobStatus
from rq.registry import ScheduledJobRegistry, StartedJobRegistry
from rq.worker import SimpleWorker
from setproctitle import setproctitle

from app.executor import BatchExecutor

if TYPE_CHECKING:  # the HTS rail's SDK is imported only by the workers that pay on it
    from app.hts_executor import HtsOutcome

QUEUE_NAME = "payouts"
RETRY = Retry(max=5, interval=[2, 5, 15, 30, 60])  # transient RPC/nonce/fee trouble
HEARTBEAT_SECONDS = 3  # a busy worker proves it is alive this often
MISSED_HEARTBEATS = 4  # ... and is judged dead after this many heartbeats failed to arrive
RECLAIM_LOCK_SECONDS = 30  # a supervisor killed mid-reclaim holds RQ's cleaning lock no longer
OVERDUE_SECONDS = 5  # a scheduled job this late has no RQ scheduler to queue it

log = logging.getLogger(__name__)

_executor: BatchExecutor | None = None
_queue: Queue | None = None
_hts: Callable[[UUID], HtsOutcome] | None = None


def install(executor: BatchExecutor, queue: Queue,
            hts: Callable[[UUID], HtsOutcome] | None = None) -> None:
    """Called once by the worker process at start (one wiring point per process). `hts`
    pays an HTS batch (runtime.hedera.hts_payer); None: this worker has no Hedera account."""
    global _executor, _queue, _hts  # the per-process context RQ's job functions reach
    _executor, _queue, _hts = executor, queue, hts


def execute_batch(batch_id: str, lost_tx: str | None = None, hts: bool = False) -> str:
    if _executor is None or _queue is None:
        raise RuntimeError("worker not wired: run it with `mass-payout worker`")
    if hts:  # the HTS rail: the executor settles any open TransactionId first (exactly once)
        if _hts is None:
            raise RuntimeError("an HTS batch reached a worker without the HTS rail: set"
                               " HEDERA_NODES, HEDERA_ACCOUNT_ID, MASS_PAYOUT_HEDERA_PRIVATE_KEY"
                               " and HEDERA_MIRROR_NODE_URL")
        paid = _hts(UUID(batch_id))
        return f"{paid.action}: {paid.detail} {paid.transaction_id or ''}".strip()
    outcome = _executor.execute(UUID(batch_id), lost_tx=lost_tx)
    if outcome.action == "retry-later" and outcome.retry_at is not None:
        batch = _executor.ledger.get_batch_by_id(UUID(batch_id))
        schedule_retry(_queue, batch.id, outcome.retry_at, batch.transient_failures,
                       generation=batch.retries, lost_tx=outcome.lost_tx)
    return f"{outcome.action}: {outcome.detail} {outcome.tx_hash or ''}".strip()


def job_id(batch_id: UUID, attempt: int = 0, generation: int = 0) -> str:
    """One id per (operator-retry generation, submission attempt): each is queued once."""
    return (f"execute-{batch_id}" + (f"-g{generation}" if generation else "")
            + (f"-r{attempt}" if attempt else ""))


def retry_job_id(batch_id: UUID, failures: int, generation: int = 0) -> str:
    return f"{job_id(batch_id, generation=generation)}-t{failures}"


def schedule_retry(queue: Queue, batch_id: UUID, at: datetime, failures: int, *,
                   generation: int = 0, lost_tx: str | None = None) -> bool:
    """Queue the attempt after transient failure `failures` for `at` (once per failure)."""
    try:
        queue.enqueue_at(at, execute_batch, str(batch_id), lost_tx,
                         job_id=retry_job_id(batch_id, failures, generation), unique=True,
                         retry=RETRY, job_timeout=300, result_ttl=86_400,
                         failure_ttl=30 * 86_400)
    except DuplicateJobError:
        return False
    return True


def enqueue_batch(queue: Queue, batch_id: UUID, attempt: int = 0,
                  lost_tx: str | None = None, generation: int = 0, hts: bool = False,
                  following: bool = False) -> bool:
    """Queue one attempt at a batch; False if that attempt is already queued or running.

    A first attempt's result is kept for a week (the audit of who ran what). A re-attempt
    for a lost submission is forgotten once it ran, so the supervisor can queue it again if
    the executor found the transaction merely slow and it is later dropped after all. An HTS
    batch's job (`hts`) is forgotten once it ran too: a job that left a TransactionId in
    flight is queued again by the supervisor under the same id until the batch is decided.
    `following`: a job that only follows an HTS batch's pending airdrops (or a blocked
    batch's open TransactionIds) has ids of its own, apart from its payment attempts'.
    """
    try:
        queue.enqueue(execute_batch, str(batch_id), lost_tx, hts,
                      job_id=job_id(batch_id, attempt, generation) + ("-follow" if following
                                                                      else ""),
                      unique=True, retry=RETRY, job_timeout=300,
                      result_ttl=0 if lost_tx or hts else 7 * 86_400,
                      failure_ttl=30 * 86_400)
    except DuplicateJobError:
        return False
    return True


class PayoutWorker(SimpleWorker):
    """A SimpleWorker (the wiring is built once per process) that shows it is alive mid-job.

    RQ's forking Worker refreshes a job's entry in the started registry from its monitoring
    loop; a SimpleWorker runs the job on that very loop and so never does, which leaves a
    killed worker's job looking alive for `job_timeout + 60` seconds. Here a thread sends
    RQ's own heartbeat (`maintain_heartbeats`) every `job_monitoring_interval` seconds, and the
    entry lives for MISSED_HEARTBEATS of them: a dead worker's job expires within seconds, a
    live worker's job only if it could not reach Redis for that long (and then a second run
    is harmless: the executor records a submission against the batch's version, so one of two
    concurrent attempts is refused).
    """

    def get_heartbeat_ttl(self, job: Job, working_time: float = 0.0) -> int:
        return int(self.job_monitoring_interval * MISSED_HEARTBEATS)

    def procline(self, message: str) -> None:
        """`ps` shows the command an operator started, with RQ's state after it (RQ's own
        title, `rq:worker:<uuid>: ...`, names no command of ours)."""
        setproctitle(f"mass-payout worker: {message}")

    def perform_job(self, job: Job, queue: Queue, execution: Execution) -> bool:
        done = threading.Event()
        beating = threading.Thread(target=self._beat, args=(job, execution, done),
                                   name=f"heartbeat-{job.id}", daemon=True)
        beating.start()
        try:
            return super().perform_job(job, queue, execution)
        finally:
            done.set()
            beating.join()

    def _beat(self, job: Job, execution: Execution, done: threading.Event) -> None:
        while not done.wait(self.job_monitoring_interval):
            try:
                self.maintain_heartbeats(job, execution)
            except Exception:  # a missed beat is retried; the job must go on
                log.warning("heartbeat for job %s failed", job.id, exc_info=True)


def reclaim_abandoned(queue: Queue) -> list[str]:
    """Queue again, now, the jobs whose worker stopped heartbeating; their ids.

    RQ's own abandoned-job handling (`StartedJobRegistry.cleanup`: retried while retries are
    left, else failed) runs under RQ's registry-cleaning lock, the one its workers' maintenance
    takes, so no two cleaners ever queue the same job twice. The lock is taken with a short
    expiry (RQ's `acquire_maintenance_lock` would keep it 15 minutes from a supervisor killed
    while holding it). The retry RQ schedules is then queued at once: the worker died, the
    job did not fail, so a backoff would only delay it (and would wait for a scheduler, whose
    lock a dead worker's scheduler may hold for a minute).
    """
    started = StartedJobRegistry(queue=queue)
    cutoff = time.time()
    expired = started.get_expired_job_ids(cutoff)
    if not expired:
        return []
    lock = queue.registry_cleaning_key
    if not queue.connection.set(lock, 1, nx=True, ex=RECLAIM_LOCK_SECONDS):
        return []  # a worker's maintenance (or another supervisor) is cleaning: next pass
    try:
        started.cleanup(cutoff)
        scheduled: ScheduledJobRegistry = queue.scheduled_job_registry
        for abandoned in expired:
            # Not scheduled: queued already (a retry without interval), failed (no retries
            # left: an operator's now), finished meanwhile, or a scheduler queued it first.
            with contextlib.suppress(InvalidJobOperation, NoSuchJobError):
                scheduled.requeue(abandoned)
    finally:
        queue.connection.delete(lock)
    jobs = Job.fetch_many(expired, connection=queue.connection, serializer=queue.serializer)
    return [job.id for job in jobs
            if job is not None and job.get_status(refresh=False) == JobStatus.QUEUED]


def queue_overdue(queue: Queue, late: float = OVERDUE_SECONDS) -> list[str]:
    """Queue now the scheduled jobs (backoffs, RQ's retries) due more than `late` seconds ago.

    RQ's scheduler runs inside one worker (`with_scheduler`) under a lock that lives 61 s. A
    worker killed -9 keeps that lock until it expires, and the workers started meanwhile try
    to take it again only at their maintenance, every 10 minutes: until then nothing queues
    the scheduled jobs, and the supervisor's re-queue of their batches is a no-op (the job's
    deterministic id exists); found while building `bench chaos`. A live scheduler queues a
    due job within a second, long before it is `late`; should both queue it at once, the job
    runs twice, which is harmless (see above).
    """
    scheduled: ScheduledJobRegistry = queue.scheduled_job_registry
    moved = []
    for overdue in scheduled.get_jobs_to_schedule(timestamp=int(time.time() - late)):
        with contextlib.suppress(InvalidJobOperation, NoSuchJobError):
            scheduled.requeue(overdue)
            moved.append(overdue)
    return moved
