"""The scheduler: fires schedules and moves automated distributions forward, once a second.

Exactly one scheduler acts at a time: it holds a PostgreSQL session advisory lock for as
long as it runs; a second one waits as a standby and takes over within a tick of the first
one's connection dropping (kill -9 included: the server releases a dead session's locks).
Even two active at once could not double anything: occurrence ids are deterministic and every
spawn is a compare-and-set on the schedule's version.

What it watches comes from the ledger's notification log, so a restart resumes every
non-terminal schedule and distribution from its last event; the clock is passed in (`now`),
so tests drive days of schedule in milliseconds. One item failing (an RPC error, a token that
refuses a snapshot) is logged and counted and never stops the others.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from uuid import UUID

import psycopg

from app.audit_runs import ScheduledAudits
from app.automation import SETTLED, Automation
from app.follow import Follower
from app.ledger import PayoutLedger
from app.redaction import redact
from domain.asset import Asset
from domain.audit_runs import AuditTrigger, audit_run_id
from domain.distribution import Distribution
from domain.errors import AlreadyExists
from domain.schedule import SCHEDULE_TERMINAL, Schedule, ScheduleStatus

log = logging.getLogger("mass_payout.scheduler")


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Scheduler:
    ledger: PayoutLedger
    automation: Automation | None  # None: fire schedules only (no chain configured)
    audits: ScheduledAudits | None = None  # None: no scheduled `audit verify`
    schedules: set[UUID] = field(default_factory=set)
    distributions: set[UUID] = field(default_factory=set)
    _deposits: set[UUID] = field(default_factory=set)  # assets with a deposit not yet seen
    last_errors: dict[UUID, str] = field(default_factory=dict)
    _log: Follower = field(init=False)

    def __post_init__(self) -> None:
        self._log = Follower(self.ledger, Schedule.Created, Distribution.Created,
                             Asset.DepositReceived)

    def _refresh(self) -> None:
        watching: dict[type, set[UUID]] = {
            Schedule.Created: self.schedules, Distribution.Created: self.distributions,
            Asset.DepositReceived: self._deposits}
        for note in self._log.new():
            watching[self._log.kind(note)].add(UUID(str(note.originator_id)))

    def tick(self, now: datetime) -> Counter[str]:
        """One pass: fire every active schedule, then advance every automated distribution."""
        self._refresh()
        done: Counter[str] = Counter()
        for schedule_id in sorted(self.schedules):
            self._guard(schedule_id, done, partial(self._fire, schedule_id, now, done))
        self._refresh()  # the distributions just spawned are advanced in this same tick
        if self.automation is not None:
            deposits, self._deposits = self._deposits, set()
            for distribution_id in sorted(self.distributions):
                self._guard(distribution_id, done,
                            partial(self._advance, distribution_id, now, deposits, done))
        if self.audits is not None:
            for trigger, key, only in self.audits.due(now):
                self._guard(audit_run_id(trigger, key), done,
                            partial(self._audit, trigger, key, only, done))
        watched = self.schedules | self.distributions  # an item no longer watched fails no more
        self.last_errors = {k: v for k, v in self.last_errors.items() if k in watched}
        return done

    def _fire(self, schedule_id: UUID, now: datetime, done: Counter[str]) -> None:
        schedule = self.ledger.get_schedule(schedule_id)
        if schedule.status in SCHEDULE_TERMINAL:
            self.schedules.discard(schedule_id)
            return
        if schedule.on_corporate_actions and self.automation is not None \
                and schedule.status is ScheduleStatus.ACTIVE:
            done["actions"] += self.automation.refresh_corporate_actions(schedule.asset_id)
        spawned = self.ledger.fire_schedule(schedule_id, now)
        done["spawned"] += len(spawned)

    def _advance(self, distribution_id: UUID, now: datetime, deposits: set[UUID],
                 done: Counter[str]) -> None:
        assert self.automation is not None
        d = self.ledger.get_distribution(distribution_id)
        if d.status in SETTLED:
            self.distributions.discard(distribution_id)
            return
        action = self.automation.advance(distribution_id, now,
                                         deposit_seen=d.asset_id in deposits)
        if action:
            done[action.split()[0]] += 1
            log.info("distribution %s: %s", distribution_id, action)

    def _audit(self, trigger: AuditTrigger, key: str, only: list[UUID] | None,
               done: Counter[str]) -> None:
        assert self.audits is not None
        run = self.audits.run(trigger, key, only)
        done["audits"] += 1
        done["audit_mismatches"] += len(run.mismatched)

    def _guard(self, item: UUID, done: Counter[str], step: Callable[[], None]) -> None:
        try:
            step()
            self.last_errors.pop(item, None)
        except AlreadyExists:
            done["raced"] += 1  # another scheduler (or an operator) got there first
        except Exception as err:  # noqa: BLE001 - one item's trouble never stops the others
            done["errors"] += 1
            message = redact(f"{type(err).__name__}: {err}")  # GET /scheduler shows it
            if self.last_errors.get(item) != message:  # log a persistent failure once
                log.warning("%s: %s", item, message)
            self.last_errors[item] = message


class LeaderLock:
    """A session-level advisory lock on its own connection: held while the connection lives."""

    def __init__(self, database_url: str, name: str) -> None:
        self._url = database_url
        self._key = int.from_bytes(hashlib.sha256(f"leader:{name}".encode()).digest()[:8],
                                   "big", signed=True)
        self._conn: psycopg.Connection[tuple[object, ...]] | None = None

    def hold(self) -> bool:
        """True while we are the leader; tries to become it otherwise."""
        try:
            if self._conn is None:
                self._conn = psycopg.connect(self._url, autocommit=True)
                row = self._conn.execute("SELECT pg_try_advisory_lock(%s)",
                                         (self._key,)).fetchone()
                if not (row and row[0]):
                    self.release()
                    return False
            else:
                self._conn.execute("SELECT 1")  # still connected: still holding the lock
            return True
        except psycopg.Error:
            self.release()
            return False

    def release(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
            self._conn = None


def run(scheduler: Scheduler, lock: LeaderLock, stop: threading.Event, *,
        interval: float = 1.0, clock: Callable[[], datetime] = utcnow,
        on_tick: Callable[[Counter[str]], None] | None = None) -> None:
    """Tick every `interval` seconds while leader; stand by otherwise. Returns on `stop`."""
    leading = False
    try:
        while not stop.is_set():
            # A stopping scheduler starts no tick: without the second check, a standby that
            # takes the lock the leader just released on stop would tick once on its way out.
            if lock.hold() and not stop.is_set():
                if not leading:
                    log.warning("scheduler: leading")
                    leading = True
                done = scheduler.tick(clock())
                if on_tick is not None:
                    on_tick(done)
                if any(v for k, v in done.items() if k != "raced"):
                    log.info("scheduler tick: %s", dict(done))
            else:
                if leading:
                    log.warning("scheduler: lost the lead; standing by")
                leading = False
            stop.wait(interval)
    finally:
        lock.release()
