"""Audit: a distribution's events, as the ledger recorded them, with who acted.

Read from the event store itself (`app.audit.history`), not from a read model: an auditor
sees what was recorded, not what a projection made of it. Admitted to every role, the
auditor's included.
"""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Controller, Request, get
from litestar.datastructures import ResponseHeader
from litestar.params import FromPath, QueryParameter
from psycopg import sql
from psycopg.errors import UndefinedTable

from api import rows, schemas, writes
from api.keys import READ
from api.params import DATE_TIME, Cursor, Limit, moment
from api.reads import ReadModels, Row
from app.audit import HistoryEntry, history
from app.audit_asof import (
    batch_figures_at,
    distribution_at,
    distribution_events_at,
    holders_as_of,
    leaves_as_of,
)
from app.ledger import PayoutLedger
from domain.distribution import Distribution
from domain.terms import DistributionKind


class Event(msgspec.Struct):
    position: int  # ledger position: the order across every aggregate
    version: int  # the distribution's own version: 1 is its creation
    time: datetime
    kind: str
    actor: str | None
    summary: str


# DATE_TIME admits 02-31: a generator of schema-valid values sends it and `moment` refuses
# it (400), a refusal the document would not describe. As-of's time names only days the
# calendar has (29 February in leap years alone), so every schema-valid value parses.
_ANY_DAY = "(?!0000)[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
_LEAP_YEAR = "(?!0000)(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)"
_CALENDAR_DAY = ("(?:(?!0000)[0-9]{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])"
                 "|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)|02-(?:0[1-9]|1[0-9]|2[0-8]))"
                 "|" + _LEAP_YEAR + "-02-29)")
assert _ANY_DAY in DATE_TIME
_AS_OF_PATTERN = ("^(?:[0-9]{1,15}$(?!\\n)|"  # a position | a time
                  + DATE_TIME[1:].replace(_ANY_DAY, _CALENDAR_DAY) + ")")
_AS_OF_DESCRIPTION = ("a ledger position (an integer), or an RFC 3339 date-time with its"
                      " offset: the state as the ledger had recorded it then (a position past"
                      " the ledger's last one is a 422 problem; a time after the last event"
                      " answers the last position)")
AsOf = Annotated[str, QueryParameter(pattern=_AS_OF_PATTERN, description=_AS_OF_DESCRIPTION)]
OptionalAsOf = Annotated[str | None, QueryParameter(
    pattern=_AS_OF_PATTERN, description=_AS_OF_DESCRIPTION + "; without it, the read model")]
AS_OF_POSITION = "X-As-Of-Position"
# Documents the header the routes taking `as_of` answer with when it is given.
AS_OF_HEADERS = [ResponseHeader(
    name=AS_OF_POSITION, documentation_only=True, required=False,
    description="with as_of only: the ledger position answered (a time becomes the last"
                " position recorded at or before it)")]
FirstLeaf = Annotated[int, QueryParameter(ge=0, le=2**31, description="the page's first leaf")]


class DistributionAsOf(msgspec.Struct):
    """What the ledger held for the distribution at `position` (replayed, not a read model).
    Amounts in smallest units, as strings; totals are null before the snapshot."""

    distribution_id: UUID
    position: int  # the ledger position answered (a time becomes the last one before it)
    version: int
    status: str
    holders: int | None
    eligible: int | None
    gross: str | None
    net: str | None
    withheld: str | None
    dust: str | None
    batch_count: int
    paid_count: int
    failed_count: int
    amount_paid: str


class LeafAsOf(msgspec.Struct):
    leaf_index: int
    account: str
    net: str
    outcome: str  # PAID, FAILED, CLAIMED… or PENDING


class LeafPageAsOf(msgspec.Struct):
    distribution_id: UUID
    position: int
    items: list[LeafAsOf]


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


def _when(as_of: str) -> dict[str, Any]:
    return {"position": int(as_of)} if as_of.isdigit() else {"at": moment(as_of, "as_of")}


def _distribution_as_of(ledger: PayoutLedger, distribution_id: UUID,
                        as_of: str) -> DistributionAsOf:
    position, d = distribution_at(ledger, distribution_id, **_when(as_of))
    t = d.totals
    if t is None:  # not snapshotted then: nothing computed yet
        return DistributionAsOf(distribution_id, position, d.version, d.status.value, None,
                                None, None, None, None, None, d.batch_count, d.paid, d.failed,
                                str(d.amount_paid))
    return DistributionAsOf(
        distribution_id, position, d.version, d.status.value, t.holders, t.eligible,
        str(t.gross), str(t.net), str(t.withheld), str(t.dust), d.batch_count, d.paid,
        d.failed, str(d.amount_paid))


def distribution_as_of_view(ledger: PayoutLedger, distribution_id: UUID,
                             as_of: str) -> tuple[int, schemas.Distribution]:
    """getDistribution's body as the ledger had it at `as_of`, with the position answered:
    folded from the distribution's own events up to then (their times are the timestamps),
    and its batches replayed for `batches_settled` and a cash-out's units. `updated_at` is
    the distribution's last event then (the read model also moves it when a batch
    settles)."""
    position, d, events = distribution_events_at(ledger, distribution_id, **_when(as_of))
    stamps: dict[str, datetime] = {}
    cancelled: tuple[str | None, str | None] = (None, None)
    funds: tuple[int | None, int | None] = (None, None)
    returned = {"Reclaimed": 0, "Swept": 0}
    for e in events:
        kind = type(e).__name__
        stamps.setdefault(kind, e.timestamp)
        if kind in ("ExecutionStarted", "FundsArrived"):
            stamps.setdefault("started", e.timestamp)
        if kind in ("Completed", "Cancelled", "Expired"):
            stamps["finished"] = e.timestamp
        elif kind == "RetryRequested":
            stamps.pop("finished", None)
        if isinstance(e, Distribution.Cancelled):
            cancelled = (e.actor, e.reason)
        elif isinstance(e, Distribution.FundsAwaited | Distribution.FundsArrived):
            funds = (e.needed, e.available)
        elif isinstance(e, Distribution.Reclaimed | Distribution.Swept):
            returned[kind] += e.amount
    t, terms = d.totals, d.terms
    eligible = t.eligible if t else None
    figures = batch_figures_at(ledger, d, position)
    cash_out = terms.kind is DistributionKind.CASH_OUT  # units: a cash-out's alone
    return position, schemas.Distribution(
        distribution_id=d.id, asset_id=d.asset_id, idempotency_key=d.idempotency_key,
        kind=terms.kind, rule_kind=terms.rule.kind, rule_value=str(terms.rule.value),
        record_date=terms.record_date, execution_kind=terms.execution.kind,
        concept=terms.concept, status=d.status, created_by=d.created_by,
        approved_by=d.approved_by, cancelled_by=cancelled[0], cancel_reason=cancelled[1],
        holders=t.holders if t else None, eligible=eligible, skipped=t.skipped if t else None,
        gross=_text(t.gross if t else None), net=_text(t.net if t else None),
        withheld=_text(t.withheld if t else None), dust=_text(t.dust if t else None),
        skipped_amount=_text(t.skipped_amount if t else None), merkle_root=d.merkle_root,
        batch_count=d.batch_count, batches_settled=figures.settled,
        paid_count=d.paid, failed_count=d.failed, amount_paid=str(d.amount_paid),
        progress=round(d.paid / eligible, 6) if eligible else 0.0,
        funds_needed=_text(funds[0]), funds_available=_text(funds[1]), commit_tx=d.commit_tx,
        claim_deadline=d.claim_deadline, created_at=events[0].timestamp,
        approved_at=stamps.get("Approved"), snapshotted_at=stamps.get("Snapshotted"),
        committed_at=stamps.get("Committed"), started_at=stamps.get("started"),
        finished_at=stamps.get("finished"), updated_at=events[-1].timestamp,
        reclaimed=str(returned["Reclaimed"]), swept=str(returned["Swept"]),
        units_redeemed=str(figures.leaf_units_paid) if cash_out else None,
        units_outstanding=str(t.eligible_balance - figures.leaf_units_paid)
        if cash_out and t else None)


def _text(amount: int | None) -> str | None:
    return None if amount is None else str(amount)


def holder_page_as_of(ledger: PayoutLedger, distribution_id: UUID, as_of: str, after: int,
                      limit: int, status: str | None) -> tuple[int, schemas.HolderPage]:
    """listHolders' page as the batches had it at `as_of`, keyset by snapshot position (the
    same cursor as the read model's), with the position answered."""
    position, d = distribution_at(ledger, distribution_id, **_when(as_of))
    found = holders_as_of(ledger, d, position, after=after, limit=limit + 1, status=status)
    items = [schemas.HolderEntitlement(
        h.holder.position, h.holder.account, str(h.holder.balance), str(h.holder.gross),
        str(h.holder.withheld), str(h.holder.net), h.holder.leaf_index, h.batch_number,
        h.status, h.holder.skip_reason.value if h.holder.skip_reason else None, h.tx_hash,
        h.failure_reason, h.attempts) for h in found[:limit]]
    more = len(found) > limit
    return position, schemas.HolderPage(
        items, rows.encode_cursor(items[-1].position) if more else None)


def _leaves_as_of(ledger: PayoutLedger, distribution_id: UUID, as_of: str, first_leaf: int,
                  limit: int) -> LeafPageAsOf:
    when = _when(as_of)
    position, _ = distribution_at(ledger, distribution_id, **when)
    found = leaves_as_of(ledger, distribution_id, position=position, first_leaf=first_leaf,
                         limit=limit)
    return LeafPageAsOf(distribution_id, position, [
        LeafAsOf(leaf.leaf_index, leaf.account, str(leaf.net), leaf.outcome) for leaf in found])


def _page(ledger: PayoutLedger, distribution_id: UUID, after: int,
          limit: int) -> list[HistoryEntry]:
    ledger.get_distribution(distribution_id)  # NotFound (404) unless it is a distribution
    return history(ledger, distribution_id, after_version=after, limit=limit + 1)


class AuditController(Controller):
    path = "/distributions"
    tags = ["audit"]  # noqa: RUF012  # Litestar declares it a list

    @get("/{distribution_id:uuid}/as-of", opt={"roles": READ, "problems": (422,)},
         operation_id="getDistributionAsOf")
    async def as_of(self, request: Request[Any, Any, Any], distribution_id: FromPath[UUID],
                    as_of: AsOf) -> DistributionAsOf:
        """The distribution as the ledger had recorded it at a position or a time: status,
        totals and paid/failed counters, replayed from its events (not the read model). 404
        if it did not exist yet."""
        found: DistributionAsOf = await writes.call(
            _distribution_as_of, request.app.state.ledger, distribution_id, as_of)
        return found

    @get("/{distribution_id:uuid}/as-of/leaves", opt={"roles": READ, "problems": (422,)},
         operation_id="listLeavesAsOf")
    async def leaves_as_of(self, request: Request[Any, Any, Any],
                           distribution_id: FromPath[UUID], as_of: AsOf,
                           first_leaf: FirstLeaf = 0, limit: Limit = 100) -> LeafPageAsOf:
        """A page of the distribution's leaves (holders to be paid, by leaf index) with
        each one's outcome as recorded then; only the batches covering the page are
        replayed. Empty past the last leaf or before the snapshot."""
        page: LeafPageAsOf = await writes.call(_leaves_as_of, request.app.state.ledger,
                                               distribution_id, as_of, first_leaf, limit)
        return page

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
