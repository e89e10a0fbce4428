"""Scheduled audits: `audit verify` once a day and after every completed distribution, each
run recorded as an `AuditRun` (its mismatches included) through the ledger.

The leading scheduler calls `ScheduledAudits.tick(now)` every tick. What is due:
- `daily`: every distribution, once per UTC day (from `DAILY_AT` on);
- `completion`: the distribution that just completed (with or without failures).
A run's id is deterministic (`domain.audit_runs`), so what was recorded is never run again,
after a restart or by a second scheduler; a run already recorded by another is a conflict
the scheduler counts as `raced`.

Verifying a 100,000-holder distribution reads every batch of it (seconds); the scheduler's
tick waits for it, so schedules fire that much later at most (their catch-up covers it).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, time
from uuid import UUID

from web3 import Web3

from app.audit_verify import audit_distributions
from app.follow import Follower
from app.ledger import PayoutLedger
from domain.audit_runs import AuditRun, AuditTrigger, audit_run_id
from domain.distribution import Distribution
from domain.errors import NotFound

log = logging.getLogger("mass_payout.audit")
ACTOR = "system:scheduler"
DAILY_AT = time(0, 0)  # UTC: the day's run is due from this time on


def verify_and_record(ledger: PayoutLedger, trigger: AuditTrigger, key: str, *,
                      w3: Web3 | None = None, only: Iterable[UUID] | None = None) -> AuditRun:
    """Run `audit verify` (over `only`, or every distribution) and record the outcome."""
    checked = chain_checked = 0
    mismatched: list[UUID] = []
    differences: list[str] = []
    for result in audit_distributions(ledger, w3, only):
        checked += 1
        chain_checked += result.chain_checked
        if not result.ok:
            mismatched.append(result.distribution_id)
            differences += [f"{result.distribution_id}: {d}" for d in result.differences]
    run = AuditRun.complete(trigger=trigger, key=key, distributions_checked=checked,
                            chain_checked=chain_checked, mismatched=mismatched,
                            differences=differences, actor=ACTOR)
    ledger.record_audit_run(run)
    if mismatched:
        log.error("audit %s %s: %d of %d distributions do not reconcile: %s", trigger.value,
                  key, len(mismatched), checked, "; ".join(differences[:5]))
    return run


def recorded(ledger: PayoutLedger, trigger: AuditTrigger, key: str) -> bool:
    try:
        ledger.get_audit_run(audit_run_id(trigger, key))
    except NotFound:
        return False
    return True


@dataclass
class ScheduledAudits:
    ledger: PayoutLedger
    w3: Web3 | None = None  # None: conservation from the ledger only, no vault comparison
    _last_day: str | None = None  # the UTC day whose run is known recorded
    _pending: set[str] = field(default_factory=set)  # completed, not known audited yet
    _completed: Follower = field(init=False)

    def __post_init__(self) -> None:
        self._completed = Follower(self.ledger, Distribution.Completed)

    def due(self, now: datetime) -> list[tuple[AuditTrigger, str, list[UUID] | None]]:
        """The runs to make now: (trigger, key, the distributions or None for all)."""
        runs: list[tuple[AuditTrigger, str, list[UUID] | None]] = []
        self._pending.update(str(note.originator_id) for note in self._completed.new())
        for key in sorted(self._pending):  # kept until recorded: a failed run runs again
            if recorded(self.ledger, AuditTrigger.COMPLETION, key):
                self._pending.discard(key)
            else:
                runs.append((AuditTrigger.COMPLETION, key, [UUID(key)]))
        day = now.date().isoformat()
        if now.time() >= DAILY_AT and day != self._last_day:
            if recorded(self.ledger, AuditTrigger.DAILY, day):
                self._last_day = day
            else:
                runs.append((AuditTrigger.DAILY, day, None))
        return runs

    def run(self, trigger: AuditTrigger, key: str, only: list[UUID] | None) -> AuditRun:
        run = verify_and_record(self.ledger, trigger, key, w3=self.w3, only=only)
        if trigger is AuditTrigger.DAILY:
            self._last_day = key
        self._pending.discard(key)
        return run
