"""The write side of the API: request bodies to ledger commands, run off the event loop."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from anyio import to_thread
from rq import Queue

from api import schemas
from domain.terms import DistributionTerms, Execution, Rule, Withholding
from mass_payout.execution import start_execution
from mass_payout.ledger import PayoutLedger


def terms_of(body: schemas.DistributionCreate) -> DistributionTerms:
    e = body.execution or schemas.ExecutionIn()
    return DistributionTerms(
        kind=body.kind, rule=Rule(body.rule.kind, int(body.rule.value)),
        record_date=body.record_date,
        execution=Execution(kind=e.kind, at=e.at, recurrence=e.recurrence, start=e.start,
                            end=e.end, count=e.count, trigger=e.trigger),
        withholding=Withholding(body.withholding_bps,
                                tuple((o.account, o.bps) for o in body.withholding_overrides)),
        excluded=tuple(body.excluded), minimum_payout=int(body.minimum_payout),
        concept=body.concept)


def head(ledger: PayoutLedger) -> int:
    """For commands that return an id: the ledger head is at or after their events."""
    return ledger.recorder.max_notification_id() or 0


async def call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Ledger commands block on Postgres: run them in a worker thread."""
    return await to_thread.run_sync(lambda: fn(*args, **kwargs))


def create_distribution(ledger: PayoutLedger, body: schemas.DistributionCreate, key: str,
                        actor: str) -> tuple[UUID, int, bool]:
    """Returns (id, position, created): a replay of the same request creates nothing."""
    terms = terms_of(body)
    from domain import ids

    existed = ids.distribution_id(body.asset_id, key) in ledger.repository
    distribution_id = ledger.create_distribution(asset_id=body.asset_id, idempotency_key=key,
                                                 terms=terms, actor=actor)
    return distribution_id, head(ledger), not existed


def execute(ledger: PayoutLedger, queue: Queue, distribution_id: UUID,
            actor: str) -> tuple[int, int]:
    """Returns (position, batches queued). If Redis fails after the ledger recorded the start,
    the supervisor queues the batches: the 503 says so, and nothing is lost."""
    queued = start_execution(ledger, queue, distribution_id, actor)
    return head(ledger), queued
