"""RQ jobs. They are tiny: each delegates to the BatchExecutor built once per worker process.

Job ids are deterministic and enqueued with `unique=True`, so a doubled dispatcher or a replay
never queues the same attempt twice; a job run twice is still harmless (the executor and the
vault's bitmap make it a no-op).

Transient chain faults are the executor's to classify: it records `AttemptFailed` with the
backoff's `retry_at`, and the job schedules that attempt (`execute-<batch>-t<n>`, which the
supervisor would queue with the same id should Redis lose the schedule). RQ's own retry is
only a backstop for the unexpected (a bug, PostgreSQL away).
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from rq import Queue, Retry
from rq.exceptions import DuplicateJobError

from app.executor import BatchExecutor

QUEUE_NAME = "payouts"
RETRY = Retry(max=5, interval=[2, 5, 15, 30, 60])  # transient RPC/nonce/fee trouble

_executor: BatchExecutor | None = None
_queue: Queue | None = None


def install(executor: BatchExecutor, queue: Queue) -> None:
    """Called once by the worker process at start (one wiring point per process)."""
    global _executor, _queue  # the per-process context RQ's job functions reach
    _executor, _queue = executor, queue


def execute_batch(batch_id: str, lost_tx: str | None = None) -> str:
    if _executor is None or _queue is None:
        raise RuntimeError("worker not wired: run it with `mass-payout worker`")
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
                  lost_tx: str | None = None, generation: int = 0) -> bool:
    """Queue one attempt at a batch; False if that attempt is already queued or running.

    A first attempt's result is kept for a week (the audit of who ran what). A re-attempt
    for a lost submission is forgotten once it ran, so the supervisor can queue it again if
    the executor found the transaction merely slow and it is later dropped after all.
    """
    try:
        queue.enqueue(execute_batch, str(batch_id), lost_tx,
                      job_id=job_id(batch_id, attempt, generation),
                      unique=True, retry=RETRY, job_timeout=300,
                      result_ttl=0 if lost_tx else 7 * 86_400, failure_ttl=30 * 86_400)
    except DuplicateJobError:
        return False
    return True
