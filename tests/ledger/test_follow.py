"""Following the ledger (app.follow) on a real PostgreSQL: by class, a page at a time, from a
position, and under the old topic of a class that moved."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from uuid import UUID

import psycopg
from eventsourcing.persistence import Notification
from eventsourcing.utils import get_topic
from psycopg import sql

from app.follow import Follower, notifications
from app.ledger import PayoutLedger
from domain import topics
from domain.asset import Asset
from domain.schedule import MissedPolicy, Schedule
from domain.terms import Execution, ExecutionKind, Recurrence
from runtime.engines import open_ledger
from tests.ledger.helpers import import_asset, terms

HOURLY = Execution(ExecutionKind.RECURRING, recurrence=Recurrence.HOURLY,
                   start=datetime(2027, 1, 1, tzinfo=UTC), count=3)


def define(ledger: PayoutLedger, asset_id: UUID, key: str) -> UUID:
    return ledger.define_schedule(asset_id=asset_id, key=key, terms=terms(execution=HOURLY),
                                  missed_policy=MissedPolicy.RUN_ALL,
                                  misfire_grace=timedelta(seconds=60), actor="maker")


def ids(found: Iterable[Notification]) -> list[UUID]:
    return [UUID(str(n.originator_id)) for n in found]


def test_a_scan_reads_every_page_of_one_class_in_order(ledger, monkeypatch):
    # An asset and seven schedules, one of them approved: events of three classes.
    asset_id = import_asset(ledger)
    defined = [define(ledger, asset_id, f"s{i}") for i in range(7)]
    ledger.approve_schedule(defined[3], "checker")
    # Pages of two: every schedule's creation, oldest first, read in four pages and an empty
    # one; the asset's import and the approval are not among them.
    pages: list[int] = []
    select = ledger.recorder.select_notifications

    def counted(*args: object, **kwargs: object) -> object:
        found = select(*args, **kwargs)
        pages.append(len(found))
        return found

    monkeypatch.setattr(ledger.recorder, "select_notifications", counted)
    assert ids(notifications(ledger, Schedule.Created, page=2)) == defined
    assert pages == [2, 2, 2, 1, 0]
    # Several classes: their events interleaved as they were recorded.
    mixed = list(notifications(ledger, Asset.Imported, Schedule.Approved))
    assert ids(mixed) == [asset_id, defined[3]]
    # After a position: only what was recorded later.
    third = list(notifications(ledger, Schedule.Created))[2]
    assert ids(notifications(ledger, Schedule.Created, after=third.id)) == defined[3:]


def test_a_follower_returns_only_what_is_new_since_its_last_call(ledger):
    asset_id = import_asset(ledger)
    first = define(ledger, asset_id, "first")
    follower = Follower(ledger, Schedule.Created, Schedule.Approved, page=1)
    # The first call: everything so far (one page at a time); then nothing until more is
    # recorded.
    assert ids(follower.new()) == [first]
    assert follower.new() == []
    position = follower.position
    # New events: exactly those, decoded, each of a class the follower names.
    second = define(ledger, asset_id, "second")
    ledger.approve_schedule(first, "checker")
    events = follower.new_events()
    assert [(type(e), e.originator_id) for e in events] == [(Schedule.Created, second),
                                                            (Schedule.Approved, first)]
    assert follower.position == ledger.recorder.max_notification_id()
    # A follower started at an earlier position resumes from there; `kind` names each
    # event's class without decoding it.
    resumed = Follower(ledger, Schedule.Created, Schedule.Approved, after=position)
    assert [resumed.kind(n) for n in resumed.new()] == [Schedule.Created, Schedule.Approved]


def test_events_stored_under_a_moved_class_s_old_topic_are_followed(
        ledger, database_url, schema, monkeypatch):
    # Two schedules are approved; pretend the first approval was stored before
    # Schedule.Approved moved: its stored topic is the class's old one.
    asset_id = import_asset(ledger)
    old_approval, new_approval = define(ledger, asset_id, "old"), define(ledger, asset_id, "new")
    ledger.approve_schedule(old_approval, "checker")
    ledger.approve_schedule(new_approval, "checker")
    old = "mass_payout.aggregates:Schedule.Approved"
    with psycopg.connect(database_url, autocommit=True) as conn:
        changed = conn.execute(sql.SQL(
            "UPDATE {}.payoutledger_events SET topic = %s WHERE topic = %s AND originator_id"
            " = %s").format(sql.Identifier(schema)),
            (old, get_topic(Schedule.Approved), old_approval)).rowcount
    assert changed == 1
    # Not registered: following the class finds only the approval under its current topic.
    assert ids(notifications(ledger, Schedule.Approved)) == [new_approval]
    # Registered in domain.topics.MOVED: both, in the order recorded, as the class itself.
    monkeypatch.setitem(topics.MOVED, old, Schedule.Approved)
    reopened = open_ledger(database_url, schema)  # registers the old topic for decoding
    try:
        follower = Follower(reopened, Schedule.Approved)
        found = follower.new()
        assert ids(found) == [old_approval, new_approval]
        assert [n.topic for n in found] == [old, get_topic(Schedule.Approved)]
        assert {follower.kind(n) for n in found} == {Schedule.Approved}
        decoded = Follower(reopened, Schedule.Approved).new_events()
        assert [type(e) for e in decoded] == [Schedule.Approved, Schedule.Approved]
    finally:
        reopened.close()
