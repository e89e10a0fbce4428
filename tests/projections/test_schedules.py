"""The schedules read model on a real PostgreSQL: after every step of a story of approvals,
spawns, misses, pauses and cancellations its rows say what the aggregates say, however the
runner cuts the events into transactions, and a rebuild from zero gives the same rows."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from uuid import UUID

import psycopg
from psycopg.rows import dict_row

from app.ledger import PayoutLedger
from domain.asset import CorporateAction
from domain.schedule import MissedPolicy
from domain.terms import Execution, ExecutionKind, Recurrence, Trigger
from projections.rebuild import rebuild
from projections.registry import open_projection
from projections.runner import Runner
from projections.schedules import Schedules
from tests.ledger.helpers import import_asset, terms

T0 = datetime(2027, 3, 1, tzinfo=UTC)
HOUR, DAY = timedelta(hours=1), timedelta(days=1)


def define(ledger: PayoutLedger, asset_id: UUID, key: str, execution: Execution,
           policy: MissedPolicy, grace: timedelta = timedelta(seconds=60)) -> UUID:
    return ledger.define_schedule(asset_id=asset_id, key=key, terms=terms(execution=execution),
                                  missed_policy=policy, misfire_grace=grace, actor="maker")


def select(database_url: str, schema: str, query: str, *params: object) -> list[dict]:
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        return conn.execute(query.replace("$views", f'"{schema}_views"'), params).fetchall()


def assert_rows_match_ledger(ledger: PayoutLedger, database_url: str, schema: str,
                             ids: list[UUID], step: str) -> None:
    for sid in ids:
        s = ledger.get_schedule(sid)
        (row,) = select(database_url, schema, "SELECT * FROM $views.schedules"
                        " WHERE schedule_id = %s", sid)
        assert (row["status"], row["approved_by"], row["paused_reason"], row["next_number"],
                row["spawned"], row["missed"]) == (
            s.status.value, s.approved_by, s.paused_reason, s.next_number, len(s.spawned),
            len(s.missed)), (step, s.key)
        occurrences = select(database_url, schema, "SELECT number, distribution_id FROM"
                             " $views.schedule_occurrences WHERE schedule_id = %s"
                             " ORDER BY number", sid)
        assert [(o["number"], o["distribution_id"]) for o in occurrences] == sorted(
            [*s.spawned.items(), *((n, None) for n in s.missed)]), (step, s.key)


def schedules_story(ledger: PayoutLedger, check: Callable[[str], None]) -> dict[str, UUID]:
    """Four schedules on one token: hourly, daily, on its corporate actions, and one never
    approved."""
    asset_id = import_asset(ledger)
    ledger.record_corporate_actions(asset_id, [
        CorporateAction(0, "DIVIDEND", T0, T0 + DAY, 7),
        CorporateAction(1, "DIVIDEND", T0 + 2 * DAY, T0 + 3 * DAY, 9)])
    made = {
        "hourly": define(ledger, asset_id, "hourly", Execution(
            ExecutionKind.RECURRING, recurrence=Recurrence.HOURLY, start=T0, count=24),
            MissedPolicy.RUN_LATEST),
        "daily": define(ledger, asset_id, "daily", Execution(
            ExecutionKind.RECURRING, recurrence=Recurrence.DAILY, start=T0, count=3),
            MissedPolicy.RUN_ALL),
        "actions": define(ledger, asset_id, "actions", Execution(
            ExecutionKind.AUTOMATIC, trigger=Trigger.ON_CORPORATE_ACTION_DATE),
            MissedPolicy.SKIP, grace=HOUR),
        "pending": define(ledger, asset_id, "pending", Execution(
            ExecutionKind.RECURRING, recurrence=Recurrence.DAILY, start=T0, count=3),
            MissedPolicy.SKIP),
    }
    check("defined")
    for name in ("hourly", "daily", "actions"):
        ledger.approve_schedule(made[name], "checker")
    check("approved")
    # Hourly, first fired 2.5 h in: 0 and 1 missed, 2 spawned. Daily, five days in: all three
    # spawned (RUN_ALL), so it finishes. The first corporate action on its execution date.
    ledger.fire_schedule(made["hourly"], T0 + 2.5 * HOUR)
    ledger.fire_schedule(made["daily"], T0 + 5 * DAY)
    ledger.fire_schedule(made["actions"], T0 + DAY)
    check("fired")
    ledger.pause_schedule(made["hourly"], "ops", "audit")
    check("paused")
    # Resumed at 5 h: 3 and 4 are missed, 5 is on time. The second action is a day late:
    # skipped. The schedule never approved is cancelled.
    ledger.resume_schedule(made["hourly"], "ops")
    ledger.fire_schedule(made["hourly"], T0 + 5 * HOUR)
    ledger.fire_schedule(made["actions"], T0 + 4 * DAY)
    ledger.cancel_schedule(made["pending"], "checker", "not needed")
    check("resumed, fired again, cancelled")
    return made


def test_the_read_model_says_what_the_aggregates_say_at_every_step(
        ledger, views, database_url, schema):
    live = Runner(ledger, open_projection(views, Schedules), max_events=3, page=2)
    seen: dict[str, dict[str, tuple[object, ...]]] = {}

    def check(step: str) -> None:
        live.catch_up()  # transactions of three events: rows change by UPDATE
        found = select(database_url, schema, "SELECT schedule_id, key, status, paused_reason,"
                       " next_number, spawned, missed FROM $views.schedules")
        assert_rows_match_ledger(ledger, database_url, schema,
                                 [r["schedule_id"] for r in found], step)
        seen[step] = {r["key"]: (r["status"], r["paused_reason"], r["next_number"],
                                 r["spawned"], r["missed"]) for r in found}

    schedules_story(ledger, check)
    assert seen["defined"]["hourly"] == ("PENDING_APPROVAL", "", 0, 0, 0)
    assert seen["approved"]["hourly"] == ("ACTIVE", "", 0, 0, 0)
    assert seen["fired"] == {"hourly": ("ACTIVE", "", 3, 1, 2),
                             "daily": ("FINISHED", "", 3, 3, 0),
                             "actions": ("ACTIVE", "", 0, 1, 0),  # an action id is no count
                             "pending": ("PENDING_APPROVAL", "", 0, 0, 0)}
    assert seen["paused"]["hourly"] == ("PAUSED", "audit", 3, 1, 2)
    assert seen["resumed, fired again, cancelled"] == {
        "hourly": ("ACTIVE", "", 6, 2, 4), "daily": ("FINISHED", "", 3, 3, 0),
        "actions": ("ACTIVE", "", 0, 1, 1), "pending": ("CANCELLED", "", 0, 0, 0)}


def test_a_rebuilt_schedules_read_model_equals_the_live_one(ledger, views, database_url,
                                                             schema):
    live = Runner(ledger, open_projection(views, Schedules), max_events=2, page=1)
    schedules_story(ledger, lambda _step: live.catch_up())

    def tables() -> tuple[list[dict], list[dict]]:
        return (select(database_url, schema, "SELECT * FROM $views.schedules"
                       " ORDER BY created_position"),
                select(database_url, schema, "SELECT * FROM $views.schedule_occurrences"
                       " ORDER BY schedule_id, number"))

    before = tables()
    assert len(before[0]) == 4 and len(before[1]) == 11
    done = rebuild(ledger, views, Schedules)
    assert done.position == ledger.recorder.max_notification_id()
    assert tables() == before
