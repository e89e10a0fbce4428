"""RQ jobs. They are tiny: each delegates to the BatchExecutor built once per worker process.

Job ids are deterministic and enqueued with `unique=True`, so a doubled dispatcher or a replay
never queues the same attempt twice; a job run twice is still harmless (the executor and the
vault's bitmap make it a no-op). Transient chain errors raise and RQ retries them with backoff.
"""

from __future__ import annotations

from uuid import UUID

from rq import Queue, Retry
from rq.exceptions import DuplicateJobError

from chain.executor import BatchExecutor

QUEUE_NAME = "payouts"
RETRY = Retry(max=5, interval=[2, 5, 15, 30, 60])  # transient RPC/nonce/fee trouble

_executor: BatchExecutor | None = None


def install(executor: BatchExecutor) -> None:
    """Called once by the worker process at start (one wiring point per process)."""
    global _executor  # noqa: PLW0603 - the per-process context RQ's job functions reach
    _executor = executor


def execute_batch(batch_id: str, lost_tx: str | None = None) -> str:
    if _executor is None:
        raise RuntimeError("worker not wired: run it with `mass-payout worker`")
    outcome = _executor.execute(UUID(batch_id), lost_tx=lost_tx)
    return f"{outcome.action}: {outcome.detail} {outcome.tx_hash or ''}".strip()


def job_id(batch_id: UUID, attempt: int = 0) -> str:
    return f"execute-{batch_id}" + (f"-r{attempt}" if attempt else "")


def enqueue_batch(queue: Queue, batch_id: UUID, attempt: int = 0,
                  lost_tx: str | None = None) -> bool:
    """Queue one attempt at a batch; False if that attempt is already queued or running.

    A first attempt's result is kept for a week (the audit of who ran what). A re-attempt
    for a lost submission is forgotten once it ran, so the supervisor can queue it again if
    the executor found the transaction merely slow and it is later dropped after all.
    """
    try:
        queue.enqueue(execute_batch, str(batch_id), lost_tx, job_id=job_id(batch_id, attempt),
                      unique=True, retry=RETRY, job_timeout=300,
                      result_ttl=0 if lost_tx else 7 * 86_400, failure_ttl=30 * 86_400)
    except DuplicateJobError:
        return False
    return True
