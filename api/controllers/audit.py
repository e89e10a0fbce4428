"""Audit: a distribution's events, as the ledger recorded them, with who acted.

Read from the event store itself (`app.audit.history`), not from a read model: an auditor
sees what was recorded, not what a projection made of it. Admitted to every role, the
auditor's included.
"""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec
from litestar import Controller, Request, get
from litestar.params import FromPath
from psycopg import sql
from psycopg.errors import UndefinedTable

from api import rows, writes
from api.keys import READ
from api.params import Cursor, Limit
from api.reads import ReadModels, Row
from app.audit import HistoryEntry, history
from app.ledger import PayoutLedger


class Event(msgspec.Struct):
    position: int  # ledger position: the order across every aggregate
    version: int  # the distribution's own version: 1 is its creation
    time: datetime
    kind: str
    actor: str | None
    summary: str


class EventPage(msgspec.Struct):
    distribution_id: UUID
    items: list[Event]
    next_cursor: str | None


async def latest_audit_runs(reads: ReadModels) -> list[Row]:
    """The latest scheduled `audit verify` of each trigger (daily, completion), as the
    `audit_runs` read model has it: what /metrics and the panel's attention list show."""
    with contextlib.suppress(UndefinedTable):  # the projector has not created it yet
        return await reads.all(sql.SQL(
            "SELECT DISTINCT ON (trigger) run_id, trigger, key, distributions_checked,"
            " mismatches, mismatched, differences, recorded_at FROM {}"
            " ORDER BY trigger, position DESC").format(reads.table("audit_runs")))
    return []


def _page(ledger: PayoutLedger, distribution_id: UUID, after: int,
          limit: int) -> list[HistoryEntry]:
    ledger.get_distribution(distribution_id)  # NotFound (404) unless it is a distribution
    return history(ledger, distribution_id, after_version=after, limit=limit + 1)


class AuditController(Controller):
    path = "/distributions"
    tags = ["audit"]  # noqa: RUF012  # Litestar declares it a list

    @get("/{distribution_id:uuid}/events", opt={"roles": READ},
         operation_id="listDistributionEvents")
    async def events(self, request: Request[Any, Any, Any], distribution_id: FromPath[UUID],
                     cursor: Cursor = None, limit: Limit = 100) -> EventPage:
        """Every event of the distribution, oldest first, a page at a time: its ledger
        position, time, actor (who approved, cancelled, retried…) and a one-line summary."""
        after = max(rows.decode_position(cursor), 0)
        found: list[HistoryEntry] = await writes.call(
            _page, request.app.state.ledger, distribution_id, after, limit)
        items = [Event(e.position, e.version, e.time, e.kind, e.actor, e.summary)
                 for e in found[:limit]]
        more = len(found) > limit
        return EventPage(distribution_id, items,
                         rows.encode_cursor(items[-1].version) if more else None)
