"""Jobs the ledger says must exist, and the supervisor's check that each one does.

Every job of ours has a deterministic id and is queued with `unique=True`, so queueing it again
is a no-op for as long as RQ holds that id in any state, FAILED included: RQ keeps a failed job
for its `failure_ttl` (30 days for a batch). A PostgreSQL outage longer than RQ's own retries
(2 + 5 + 15 + 30 + 60 s, about 112 s) therefore used to leave a batch undecided behind a failed
job that nothing would ever queue again. `ensure` closes that gap:

- no job under the id (Redis lost it, or it expired) → queue it;
- FAILED → once it has been failed for `after` (the outage may still be on), queue it again
  through RQ's failed-job registry (its ZREM lets one of two supervisors win), at most `limit`
  times, counted in the job's own meta so every supervisor shares the count;
- past the limit it is a person's: the caller records why, once (a batch is BLOCKED with the
  job's last error, and an operator's retry starts a new generation, hence a new id);
- any other state (queued, scheduled, started, finished) → nothing: RQ or the ledger owns it.

`OwedJobs` is what each kind of job hands the supervisor: batches are checked inline (their
states are richer), treasury operations by `app.treasury.OwedTreasuryJobs`, and any other
admin-key worker's jobs (vault operations) by one more source of the same shape.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Protocol

from rq import Queue
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job, JobStatus

REVIVE_AFTER = timedelta(seconds=60)  # a failed job waits this long (the outage may go on)
MAX_REVIVALS = 10  # ... about ten minutes of outage beyond RQ's retries, then a person's
REVIVALS = "supervisor_revivals"  # the job's meta: how often it was queued again
GAVE_UP = "supervisor_gave_up"  # the job's meta: the give-up was reported once


class Ensured(StrEnum):
    QUEUED = "queued"  # there was no job: queued
    REVIVED = "revived"  # a failed job queued again
    GAVE_UP = "gave_up"  # failed past the limit: reported once, then left alone


@dataclass(frozen=True)
class OwedJob:
    """A job the ledger says must exist: its queue, its id, how to queue it afresh, and what
    to record (with the job's last error) once it failed past the limit."""

    queue: Queue
    job_id: str
    enqueue: Callable[[], bool]
    give_up: Callable[[str], None] | None = None


class OwedJobs(Protocol):
    """A source of owed jobs the supervisor checks on every pass."""

    name: str

    def owed(self) -> Iterable[OwedJob]: ...


def ensure(job: OwedJob, now: datetime, *, after: timedelta = REVIVE_AFTER,
           limit: int = MAX_REVIVALS) -> Ensured | None:
    """Make sure `job` exists and is not failed for good; what was done, if anything."""
    if job.enqueue():
        return Ensured.QUEUED
    try:
        held = Job.fetch(job.job_id, connection=job.queue.connection,
                         serializer=job.queue.serializer)
    except NoSuchJobError:
        return None  # gone between the two calls: the next pass queues it
    if held.get_status(refresh=False) != JobStatus.FAILED:
        return None
    if held.meta.get(GAVE_UP):
        return None
    revivals = int(held.meta.get(REVIVALS, 0))
    if revivals >= limit:
        held.meta[GAVE_UP] = True
        held.save_meta()  # type: ignore[no-untyped-call]
        if job.give_up is not None:
            job.give_up(f"job {job.job_id} failed {revivals + 1} times; last: {_last_error(held)}")
        return Ensured.GAVE_UP
    failed_at = held.ended_at.replace(tzinfo=UTC) if held.ended_at else None
    if failed_at is not None and now - failed_at < after:
        return None
    held.meta[REVIVALS] = revivals + 1
    try:
        job.queue.failed_job_registry.requeue(held)  # saves the meta with the job
    except InvalidJobOperation:
        return None  # another supervisor revived it first
    return Ensured.REVIVED


def _last_error(job: Job) -> str:
    """The last line of the job's traceback: the exception, without the stack."""
    result = job.latest_result()
    error = (result.exc_string if result is not None else None) or ""
    lines = [line for line in error.strip().splitlines() if line.strip()]
    return lines[-1].strip()[:300] if lines else "no error recorded"
