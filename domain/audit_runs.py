"""AuditRun: one run of `audit verify` that the scheduler made, and what it found.

The scheduler verifies every distribution once a day and each distribution when it
completes; a run's outcome is a ledger fact, so a mismatch cannot be lost with a log file,
reaches webhooks (`reconciliation.mismatch`) and the panel, and is itself audited.

The id is deterministic per trigger (`daily` + the UTC date, or `completion` + the
distribution): two schedulers, or a restart mid-run, record a run once (the second save is
a conflict, not a duplicate).
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.errors import InvalidInput
from domain.ids import NAMESPACE

MAX_DIFFERENCES = 50  # an event stays small; the CLI lists every difference


class AuditTrigger(StrEnum):
    DAILY = "daily"  # key: the UTC date, 2026-12-04
    COMPLETION = "completion"  # key: the completed distribution's id


def audit_run_id(trigger: AuditTrigger, key: str) -> UUID:
    return uuid5(NAMESPACE, f"audit-run/{trigger.value}/{key}")


class AuditRun(Aggregate):
    class Completed(Aggregate.Created):
        trigger: str
        key: str
        distributions_checked: int
        chain_checked: int  # of them, how many were compared with the vault on-chain
        mismatched: list[str]  # ids of the distributions with a difference
        differences: list[str]  # "<id>: <difference>", at most MAX_DIFFERENCES
        actor: str

    @classmethod
    def complete(cls, *, trigger: AuditTrigger, key: str, distributions_checked: int,
                 chain_checked: int, mismatched: Sequence[UUID], differences: Sequence[str],
                 actor: str) -> AuditRun:
        if not key or not actor:
            raise InvalidInput("an audit run names its key and its actor")
        if distributions_checked < 0 or not 0 <= chain_checked <= distributions_checked:
            raise InvalidInput("an audit run checks a count of distributions")
        return cls._create(cls.Completed, id=audit_run_id(trigger, key), trigger=trigger.value,
                           key=key, distributions_checked=distributions_checked,
                           chain_checked=chain_checked,
                           mismatched=[str(d) for d in mismatched],
                           differences=list(differences)[:MAX_DIFFERENCES], actor=actor)

    @event(Completed)
    def __init__(self, trigger: str, key: str, distributions_checked: int, chain_checked: int,
                 mismatched: list[str], differences: list[str], actor: str) -> None:
        self.trigger = AuditTrigger(trigger)
        self.key = key
        self.distributions_checked = distributions_checked
        self.chain_checked = chain_checked
        self.mismatched = list(mismatched)
        self.differences = list(differences)
        self.actor = actor

    @property
    def ok(self) -> bool:
        return not self.mismatched
