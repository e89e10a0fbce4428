"""The scheduler against the real ledger on PostgreSQL, driven by an injected clock: days of
schedule run in seconds. Firing needs no chain, so `Scheduler(ledger, automation=None)`
exercises exactly the part that decides occurrences (the chain steps are tested with anvil
in test_automation.py)."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid5

import pytest

from app.ledger import PayoutLedger
from app.scheduler import LeaderLock, Scheduler, run
from domain import ids
from domain.asset import CorporateAction
from domain.distribution import Distribution, Status
from domain.errors import IllegalTransition, InvalidTerms, MakerCheckerViolation
from domain.schedule import MissedPolicy, Schedule, ScheduleStatus
from domain.terms import Execution, ExecutionKind, Recurrence, Trigger
from tests.ledger.helpers import import_asset, terms

pytestmark = pytest.mark.scheduling
T0 = datetime(2027, 3, 1, tzinfo=UTC)
CREATED = f"{Distribution.Created.__module__}:{Distribution.Created.__qualname__}"


def hourly(ledger: PayoutLedger, asset_id: UUID, key: str, *,
           policy: MissedPolicy = MissedPolicy.RUN_ALL, **bounds: object) -> UUID:
    cadence = Execution(ExecutionKind.RECURRING, recurrence=Recurrence.HOURLY, start=T0,
                        **(bounds or {"end": T0 + timedelta(days=3)}))  # type: ignore[arg-type]
    schedule_id = ledger.define_schedule(asset_id=asset_id, key=key,
                                         terms=terms(execution=cadence), missed_policy=policy,
                                         misfire_grace=timedelta(seconds=60), actor="maker")
    ledger.approve_schedule(schedule_id, "checker")
    return schedule_id


def created_ids(ledger: PayoutLedger) -> list[UUID]:
    """Every distribution ever created, duplicates included (from the event store itself)."""
    found = ledger.recorder.select_notifications(start=1, limit=100_000, topics=[CREATED])
    return [UUID(str(n.originator_id)) for n in found]


def test_an_hourly_schedule_over_three_simulated_days_creates_exactly_72(ledger):
    schedule_id = hourly(ledger, import_asset(ledger), "hourly")
    scheduler = Scheduler(ledger, automation=None)
    now, spawned = T0 - timedelta(minutes=5), Counter[str]()
    while now <= T0 + timedelta(days=3, hours=2):  # a tick every 7 simulated minutes
        spawned += scheduler.tick(now)
        now += timedelta(minutes=7)
    expected = [uuid5(schedule_id, str(n)) for n in range(72)]
    assert created_ids(ledger) == expected and spawned["spawned"] == 72
    for n in (0, 35, 71):
        occurrence = ledger.get_distribution(expected[n])
        assert occurrence.terms.record_date == T0 + timedelta(hours=n)
        assert occurrence.status is Status.APPROVED  # approved by the schedule's approver
        assert (occurrence.created_by, occurrence.approved_by) == ("maker", "checker")
        assert occurrence.idempotency_key == f"schedule/{schedule_id}/{n}"
    schedule = ledger.get_schedule(schedule_id)
    assert schedule.status is ScheduleStatus.FINISHED and not schedule.missed
    # A 7-minute tick finds occurrences up to 7 minutes late, past the 60 s grace: RUN_ALL
    # still runs them, and each one's lateness is recorded for the audit.
    spawned_events = [e for e in ledger.repository.event_store.get(schedule_id)
                      if isinstance(e, Schedule.OccurrenceSpawned)]
    assert max(e.late_seconds for e in spawned_events) < 7 * 60


@pytest.mark.parametrize(("policy", "spawned_after", "missed"), [
    (MissedPolicy.RUN_ALL, [3, 4, 5, 6, 7], []),
    (MissedPolicy.RUN_LATEST, [7], [3, 4, 5, 6]),
    (MissedPolicy.SKIP, [], [3, 4, 5, 6, 7]),
])
def test_five_hours_of_downtime_are_caught_up_per_policy(ledger, policy, spawned_after, missed):
    schedule_id = hourly(ledger, import_asset(ledger), f"down-{policy}", policy=policy)
    scheduler = Scheduler(ledger, automation=None)
    for hour in range(3):  # on time at 00:00, 01:00, 02:00
        scheduler.tick(T0 + timedelta(hours=hour, seconds=2))
    # Down from 02:00:02 to 07:30: occurrences 3..7 fell due meanwhile, all beyond the grace.
    scheduler = Scheduler(ledger, automation=None)  # a restarted process: nothing in memory
    scheduler.tick(T0 + timedelta(hours=7, minutes=30))
    schedule = ledger.get_schedule(schedule_id)
    assert sorted(schedule.spawned) == [0, 1, 2, *spawned_after]
    assert schedule.missed == missed
    events = [e for e in ledger.repository.event_store.get(schedule_id)
              if isinstance(e, Schedule.OccurrencesMissed)]
    assert [e.numbers for e in events] == ([missed] if missed else [])
    assert all(e.policy == policy.value for e in events)
    # Back on time: the next occurrence runs normally under every policy.
    scheduler.tick(T0 + timedelta(hours=8, seconds=1))
    assert 8 in ledger.get_schedule(schedule_id).spawned


def test_two_schedulers_at_once_create_each_occurrence_once(ledger, reopen):
    """No leader lock here on purpose: the ids and the version check alone must hold."""
    asset_id = import_asset(ledger)
    schedules = [hourly(ledger, asset_id, f"twin-{i}", count=24) for i in range(3)]
    twins = [Scheduler(reopen(), automation=None) for _ in range(2)]
    clock = [T0 + timedelta(hours=h, seconds=1) for h in range(26)]
    barrier = threading.Barrier(2)
    errors: list[str] = []

    def drive(scheduler: Scheduler) -> None:
        for now in clock:
            barrier.wait()  # both tick the same moment, racing on the same schedules
            result = scheduler.tick(now)
            if result["errors"]:
                errors.append(str(scheduler.last_errors))

    threads = [threading.Thread(target=drive, args=(s,)) for s in twins]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    # Ticks that lost a race leave their occurrences to the next tick; sweep once more.
    twins[0].tick(clock[-1])
    created = created_ids(ledger)
    assert len(created) == len(set(created)) == 3 * 24
    assert set(created) == {uuid5(s, str(n)) for s in schedules for n in range(24)}


def test_a_paused_schedule_fires_nothing_and_its_missed_occurrences_follow_the_policy(ledger):
    schedule_id = hourly(ledger, import_asset(ledger), "paused", policy=MissedPolicy.SKIP)
    scheduler = Scheduler(ledger, automation=None)
    scheduler.tick(T0)
    ledger.pause_schedule(schedule_id, "ops", "holder list under review")
    for hour in range(1, 4):
        assert scheduler.tick(T0 + timedelta(hours=hour))["spawned"] == 0
    ledger.resume_schedule(schedule_id, "ops")
    scheduler.tick(T0 + timedelta(hours=3, minutes=20))
    schedule = ledger.get_schedule(schedule_id)
    assert sorted(schedule.spawned) == [0] and schedule.missed == [1, 2, 3]
    ledger.cancel_schedule(schedule_id, "ops", "replaced by a daily one")
    assert scheduler.tick(T0 + timedelta(hours=9))["spawned"] == 0
    with pytest.raises(IllegalTransition):
        ledger.resume_schedule(schedule_id, "ops")


def test_a_schedule_spawns_nothing_until_another_key_approves_it(ledger):
    asset_id = import_asset(ledger)
    cadence = Execution(ExecutionKind.RECURRING, recurrence=Recurrence.DAILY, start=T0, count=3)
    schedule_id = ledger.define_schedule(asset_id=asset_id, key="daily",
                                         terms=terms(execution=cadence),
                                         missed_policy="RUN_ALL",
                                         misfire_grace=timedelta(0), actor="maker")
    assert Scheduler(ledger, automation=None).tick(T0 + timedelta(days=5))["spawned"] == 0
    with pytest.raises(MakerCheckerViolation):
        ledger.approve_schedule(schedule_id, "maker")


def test_recurring_and_corporate_action_executions_are_schedules_not_distributions(ledger):
    asset_id = import_asset(ledger)
    for execution in (Execution(ExecutionKind.RECURRING, recurrence=Recurrence.DAILY,
                                start=T0, count=3),
                      Execution(ExecutionKind.AUTOMATIC,
                                trigger=Trigger.ON_CORPORATE_ACTION_DATE)):
        with pytest.raises(InvalidTerms, match="schedule"):
            ledger.create_distribution(asset_id=asset_id, idempotency_key="x",
                                       terms=terms(execution=execution), actor="maker")
    with pytest.raises(InvalidTerms):
        ledger.define_schedule(asset_id=asset_id, key="manual", terms=terms(),
                               missed_policy="RUN_ALL", misfire_grace=timedelta(0),
                               actor="maker")


def test_corporate_actions_become_distributions_on_their_execution_date_once(ledger):
    asset_id = import_asset(ledger)
    ledger.record_corporate_actions(asset_id, [
        CorporateAction(0, "DIVIDEND", T0, T0 + timedelta(days=2), 7),
        CorporateAction(1, "DIVIDEND", T0 + timedelta(days=30), T0 + timedelta(days=32), 9)])
    on_actions = Execution(ExecutionKind.AUTOMATIC, trigger=Trigger.ON_CORPORATE_ACTION_DATE)
    twins = []
    for key in ("actions-a", "actions-b"):  # two schedules on one token: still paid once
        twins.append(ledger.define_schedule(
            asset_id=asset_id, key=key, terms=terms(execution=on_actions),
            missed_policy="RUN_ALL", misfire_grace=timedelta(hours=1), actor="maker"))
        ledger.approve_schedule(twins[-1], "checker")
    scheduler = Scheduler(ledger, automation=None)
    assert scheduler.tick(T0 + timedelta(days=1))["spawned"] == 0
    assert scheduler.tick(T0 + timedelta(days=2, seconds=3))["spawned"] == 1
    first = ids.distribution_id(asset_id, "corporate-action/0")
    d = ledger.get_distribution(first)
    assert (d.terms.rule.kind.value, d.terms.rule.value) == ("PER_UNIT", 7)
    assert d.terms.record_date == T0 and d.status is Status.APPROVED
    assert all(ledger.get_schedule(s).spawned == {0: first} for s in twins)
    scheduler.tick(T0 + timedelta(days=40))
    assert created_ids(ledger) == [first, ids.distribution_id(asset_id, "corporate-action/1")]


def test_a_paused_asset_holds_its_schedules_until_it_resumes(ledger):
    asset_id = import_asset(ledger)
    schedule_id = hourly(ledger, asset_id, "asset-paused", policy=MissedPolicy.RUN_LATEST)
    ledger.pause_asset(asset_id, "ops", "corporate event")
    scheduler = Scheduler(ledger, automation=None)
    assert scheduler.tick(T0 + timedelta(hours=2, minutes=30))["spawned"] == 0
    ledger.resume_asset(asset_id, "ops")
    scheduler.tick(T0 + timedelta(hours=2, minutes=31))
    schedule = ledger.get_schedule(schedule_id)
    assert sorted(schedule.spawned) == [2] and schedule.missed == [0, 1]


def test_one_leader_at_a_time_and_a_standby_takes_over(database_url, schema, ledger):
    first, second = (LeaderLock(database_url, f"scheduler:{schema}") for _ in range(2))
    assert first.hold() and first.hold()  # re-checking keeps it
    assert not second.hold()  # standby
    first.release()  # the leader's connection is gone (a crash looks the same to Postgres)
    assert second.hold()
    second.release()


def test_of_two_running_schedulers_only_the_leader_ticks(database_url, schema, ledger, reopen):
    hourly(ledger, import_asset(ledger), "leader", count=3)
    stop = threading.Event()
    ticks: list[Counter[int]] = [Counter(), Counter()]
    threads = [threading.Thread(target=run, kwargs={
        "scheduler": Scheduler(reopen(), automation=None),
        "lock": LeaderLock(database_url, f"scheduler:{schema}"), "stop": stop,
        "interval": 0.05, "clock": lambda: T0 + timedelta(hours=5),
        "on_tick": lambda _done, i=i: ticks[i].update([1])}) for i in range(2)]
    for t in threads:
        t.start()
    stop.wait(1.0)
    stop.set()
    for t in threads:
        t.join()
    assert sorted(sum(c.values()) > 0 for c in ticks) == [False, True]
    assert len(created_ids(ledger)) == 3
