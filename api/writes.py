"""The write side of the API: request bodies to ledger commands, run off the event loop."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from uuid import UUID

from anyio import to_thread
from rq import Queue

from api import schemas
from domain.errors import InvalidInput, InvalidTerms
from domain.schedule import Schedule
from domain.terms import (
    DistributionTerms,
    Execution,
    ExecutionKind,
    Rule,
    RuleKind,
    Trigger,
    Withholding,
)
from mass_payout.execution import dispatch, start_execution
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


# --- schedules ---

# A corporate-action schedule's template rule: never paid, each action's amount replaces it.
ACTION_RULE = Rule(RuleKind.PER_UNIT, 1)


def schedule_terms(body: schemas.ScheduleCreate, now: datetime) -> DistributionTerms:
    """The schedule's template. Its record date is replaced per occurrence: the occurrence's
    due time (RECURRING: the start here) or the corporate action's record date (`now` here)."""
    c = body.cadence
    try:
        if c.trigger is not None:
            given = [n for n in ("recurrence", "start", "end", "count")
                     if getattr(c, n) is not None]
            if given:
                raise InvalidTerms(f"a corporate-action cadence takes no {', '.join(given)}")
            if body.rule is not None:
                raise InvalidTerms("a corporate-action schedule pays each action's own amount"
                                   " per unit: leave the rule out")
            execution = Execution(ExecutionKind.AUTOMATIC, trigger=Trigger(c.trigger))
            rule, record_date = ACTION_RULE, now
        else:
            execution = Execution(ExecutionKind.RECURRING, recurrence=c.recurrence,
                                  start=c.start, end=c.end, count=c.count)
            if body.rule is None:
                raise InvalidTerms("a RECURRING schedule needs a rule")
            rule = Rule(body.rule.kind, int(body.rule.value))
            record_date = execution.start or now
        return DistributionTerms(
            kind=body.kind, rule=rule, record_date=record_date, execution=execution,
            withholding=Withholding(body.withholding_bps, tuple(
                (o.account, o.bps) for o in body.withholding_overrides)),
            excluded=tuple(body.excluded), minimum_payout=int(body.minimum_payout),
            concept=body.concept)
    except OverflowError:  # e.g. 0001-01-01T00:00+01:00 has no UTC time
        raise InvalidInput("a date lies outside the range of UTC times") from None


def define_schedule(ledger: PayoutLedger, body: schemas.ScheduleCreate, key: str,
                    actor: str) -> tuple[UUID, int, bool]:
    """Returns (id, position, created): a replay of the same request creates nothing.

    A corporate-action template is recorded `now`; a replay reuses the recorded date, so
    that it is the same request (and not an idempotency conflict)."""
    schedule_id = Schedule.create_id(body.asset_id, key)
    existed = schedule_id in ledger.repository
    now = datetime.now(UTC)
    if existed and body.cadence.trigger is not None:
        now = ledger.get_schedule(schedule_id).terms.record_date
    defined = ledger.define_schedule(
        asset_id=body.asset_id, key=key, terms=schedule_terms(body, now),
        missed_policy=body.missed_policy,
        misfire_grace=timedelta(seconds=body.misfire_grace_seconds), actor=actor)
    return defined, head(ledger), not existed


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
