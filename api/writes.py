"""The write side of the API: the application's commands, run off the event loop.

`create_distribution` and `define_schedule` are the application's handlers (app.commands),
re-exported for the controllers."""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

from anyio import to_thread
from rq import Queue

from api import schemas
from app.commands import create_distribution, define_schedule, head
from app.execution import dispatch, start_execution
from app.ledger import PayoutLedger

__all__ = ["call", "create_distribution", "define_schedule", "execute", "head", "retry"]


async def call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Ledger commands block on Postgres: run them in a worker thread."""
    return await to_thread.run_sync(lambda: fn(*args, **kwargs))


def execute(ledger: PayoutLedger, queue: Queue, distribution_id: UUID,
            actor: str) -> tuple[int, int]:
    """Returns (position, batches queued). If Redis fails after the ledger recorded the start,
    the supervisor queues the batches: the 503 says so, and nothing is lost."""
    queued = start_execution(ledger, queue, distribution_id, actor)
    return head(ledger), queued


def retry(ledger: PayoutLedger, queue: Queue | None, distribution_id: UUID, actor: str,
          body: schemas.RetryRequest) -> schemas.RetryStarted:
    """Record the retry, then queue its batches. Without a queue (or if Redis fails after the
    save: a 503) the supervisor queues the batches of executing distributions."""
    position, leaves, unblocked = ledger.retry_distribution(
        distribution_id, actor=actor, reason=body.reason, leaf_indices=body.leaf_indices)
    queued_by: Literal["api", "supervisor"] = "supervisor"
    queued = 0
    if queue is not None:
        queued, queued_by = dispatch(ledger, queue, distribution_id), "api"
    return schemas.RetryStarted(position, leaves, unblocked, queued, queued_by)
