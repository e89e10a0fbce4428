"""Audit: what happened to an aggregate, event by event, and who did it.

`history` reads an aggregate's stored events with their ledger positions (the notification
ids every projection and `wait_for_position` speak of) and turns each into one line a
person can read. It decodes events through the ledger's own mapper, so old topics and
upcast versions read as the code reads them today. Tamper evidence is `app.audit_log`;
conservation and the chain are `app.audit_verify`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, is_dataclass
from datetime import datetime
from enum import Enum
from typing import Any
from uuid import UUID

from eventsourcing.domain import DomainEvent
from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg import sql

from app.ledger import PayoutLedger
from domain.errors import NotFound

_HIDDEN = frozenset({"originator_id", "originator_version", "timestamp", "originator_topic",
                     "actor"})
_MAX_VALUE = 120  # characters of one field in a summary
_MAX_FIELDS = 8


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One stored event, as an auditor reads it."""

    position: int  # ledger position (notification id): the order across all aggregates
    version: int  # the aggregate's own version: 1 is its creation
    time: datetime  # when the event was recorded (the aggregate's clock, UTC)
    kind: str  # the event class, e.g. "Approved", "LeavesPaid"
    actor: str | None  # who acted, when the event records it (chain facts have none)
    summary: str  # one line: the kind and its salient fields


def events_table(ledger: PayoutLedger) -> sql.Identifier:
    """The ledger's events table, schema-qualified (for audits that read it directly)."""
    recorder = recorder_of(ledger)
    return sql.Identifier(recorder.datastore.schema, recorder.events_table_name)


def recorder_of(ledger: PayoutLedger) -> PostgresApplicationRecorder:
    recorder = ledger.recorder
    if not isinstance(recorder, PostgresApplicationRecorder):
        raise TypeError("audits read the ledger's PostgreSQL event store")
    return recorder


def history(ledger: PayoutLedger, aggregate_id: UUID, *, after_version: int = 0,
            limit: int | None = None) -> list[HistoryEntry]:
    """Every event of `aggregate_id`, oldest first (or a page: versions after
    `after_version`, at most `limit`). NotFound when the aggregate has no events at all."""
    recorder = recorder_of(ledger)
    query = sql.SQL("SELECT notification_id, originator_version, topic, state FROM {}"
                    " WHERE originator_id = %s AND originator_version > %s"
                    " ORDER BY originator_version").format(events_table(ledger))
    params: list[Any] = [aggregate_id, after_version]
    if limit is not None:
        query += sql.SQL(" LIMIT %s")
        params.append(limit)
    with recorder.datastore.transaction(commit=False) as cur:
        cur.execute(query, params)
        rows = cur.fetchall()
        if not rows and after_version == 0:
            raise NotFound(f"no aggregate {aggregate_id}")
    return [_entry(ledger, aggregate_id, row) for row in rows]


def _entry(ledger: PayoutLedger, aggregate_id: UUID, row: Mapping[str, Any]) -> HistoryEntry:
    event = ledger.mapper.to_domain_event(StoredEvent(
        originator_id=aggregate_id, originator_version=row["originator_version"],
        topic=row["topic"], state=bytes(row["state"])))
    attributes = vars(event) if hasattr(event, "__dict__") else {}
    actor = attributes.get("actor")
    kind = type(event).__qualname__.rpartition(".")[2]
    return HistoryEntry(position=int(row["notification_id"]),
                        version=int(row["originator_version"]),
                        time=_recorded_at(event), kind=kind,
                        actor=str(actor) if actor else None,
                        summary=summarize(kind, attributes, str(actor) if actor else None))


def _recorded_at(event: object) -> datetime:
    if not isinstance(event, DomainEvent):
        raise TypeError(f"{type(event).__name__} is not a domain event")
    return event.timestamp


def summarize(kind: str, attributes: Mapping[str, Any], actor: str | None = None) -> str:
    """`Kind by actor: field=value, …`: collections as their size, long values cut."""
    parts = []
    for name, value in attributes.items():
        if name in _HIDDEN or name.startswith("_"):
            continue
        parts.append(f"{name}={_short(value)}")
    shown = parts[:_MAX_FIELDS] + ([f"… {len(parts) - _MAX_FIELDS} more"]
                                   if len(parts) > _MAX_FIELDS else [])
    head = f"{kind} by {actor}" if actor else kind
    return f"{head}: {', '.join(shown)}" if shown else head


def _short(value: Any) -> str:
    return _cut(_text(value))


def _text(value: Any) -> str:
    if isinstance(value, Enum):
        return str(value.value)
    if is_dataclass(value) and not isinstance(value, type):
        inner = ", ".join(f"{f.name}={_text(getattr(value, f.name))}" for f in fields(value)
                          if getattr(value, f.name) not in (None, (), [], {}))
        return f"{type(value).__name__}({inner})"
    if isinstance(value, Mapping | set | frozenset) or (
            isinstance(value, Sequence) and not isinstance(value, str | bytes)):
        return f"[{len(value)} items]"
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _cut(text: str) -> str:
    return text if len(text) <= _MAX_VALUE else text[:_MAX_VALUE - 1] + "…"

