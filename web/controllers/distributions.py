"""Distributions at the panel: the list, and one distribution's page with its live parts.

Reads go through the API's own query functions (`api.controllers.distributions`), decoded
into the API's Structs, and its read-model cache; the holders' page is listHolders' query with
an exact account (`web.queries`). Every live part refetches itself on its read model's SSE
event (`web.live`). Actions are in `web.controllers.distribution_actions`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode
from uuid import UUID

import msgspec
from litestar import Controller, Request, get
from litestar.params import FromPath, FromQuery
from litestar.response import Stream, Template

from api import rows, schemas, writes
from api.controllers.reports import report_stream
from api.queries import batch_page, distribution_page
from api.reads import ReadModels
from app import audit
from domain import accounts
from domain.distribution import Status
from domain.errors import InvalidAccount
from domain.terms import DistributionKind
from projections.holders import HolderStatus
from web import queries
from web.controllers.distribution_view import actions_context, asset_of, distribution, view

PAGE = 50  # distributions per page
ROWS = 100  # holders and batches per page
PROGRESS = "ProgressRecorded"  # the distribution's running totals, one per settled batch


class DistributionPages(Controller):
    path = "/distributions"
    include_in_schema = False

    @get("/")
    async def list_page(self, request: Request[Any, Any, Any],
                        status: FromQuery[Status | None] = None,
                        kind: FromQuery[DistributionKind | None] = None,
                        asset_id: FromQuery[UUID | None] = None,
                        cursor: FromQuery[str | None] = None) -> Template:
        return view(request, "distributions.html",
                    **await _listing(request, status, kind, asset_id, cursor))

    @get("/fragments/list")
    async def list_fragment(self, request: Request[Any, Any, Any],
                            status: FromQuery[Status | None] = None,
                            kind: FromQuery[DistributionKind | None] = None,
                            asset_id: FromQuery[UUID | None] = None,
                            cursor: FromQuery[str | None] = None) -> Template:
        return view(request, "_distributions_table.html",
                    **await _listing(request, status, kind, asset_id, cursor))

    @get("/{distribution_id:uuid}")
    async def detail(self, request: Request[Any, Any, Any], distribution_id: FromPath[UUID],
                     hstatus: FromQuery[HolderStatus | None] = None,
                     account: FromQuery[str | None] = None,
                     hcursor: FromQuery[str | None] = None,
                     bcursor: FromQuery[str | None] = None) -> Template:
        state = request.app.state
        d = await distribution(state.reads, distribution_id)
        aggregate = await writes.call(state.ledger.get_distribution, distribution_id)
        return view(request, "distribution.html", terms=aggregate.terms,
                    **await _state(request, d),
                    **await _timeline(request, distribution_id),
                    **actions_context(request, d),
                    **await _batches(request, distribution_id, bcursor),
                    **await _holders(request, d, hstatus, account, hcursor))

    @get("/{distribution_id:uuid}/fragments/state")
    async def state_fragment(self, request: Request[Any, Any, Any],
                             distribution_id: FromPath[UUID]) -> Template:
        d = await distribution(request.app.state.reads, distribution_id)
        return view(request, "_distribution_state.html", d=d, **await _state(request, d))

    @get("/{distribution_id:uuid}/fragments/timeline")
    async def timeline_fragment(self, request: Request[Any, Any, Any],
                                distribution_id: FromPath[UUID]) -> Template:
        return view(request, "_distribution_timeline.html",
                    **await _timeline(request, distribution_id))

    @get("/{distribution_id:uuid}/fragments/batches")
    async def batches_fragment(self, request: Request[Any, Any, Any],
                               distribution_id: FromPath[UUID],
                               bcursor: FromQuery[str | None] = None) -> Template:
        d = await distribution(request.app.state.reads, distribution_id)
        return view(request, "_batches.html", d=d, asset=await asset_of(request, d),
                    **await _batches(request, distribution_id, bcursor))

    @get("/{distribution_id:uuid}/fragments/holders")
    async def holders_fragment(self, request: Request[Any, Any, Any],
                               distribution_id: FromPath[UUID],
                               hstatus: FromQuery[HolderStatus | None] = None,
                               account: FromQuery[str | None] = None,
                               hcursor: FromQuery[str | None] = None) -> Template:
        d = await distribution(request.app.state.reads, distribution_id)
        context = await _holders(request, d, hstatus, account, hcursor)
        return view(request, "_holders.html", d=d, asset=await asset_of(request, d),
                    status_code=422 if context["account_error"] else 200,
                    can_retry=actions_context(request, d)["can_retry"],
                    from_filter=request.headers.get("hx-trigger") == "holders-filter",
                    **context)

    @get("/{distribution_id:uuid}/report.csv", media_type="text/csv")
    async def report(self, request: Request[Any, Any, Any],
                     distribution_id: FromPath[UUID]) -> Stream:
        """The API's report (GET /distributions/{id}/report.csv), byte for byte."""
        return await report_stream(request.app.state.reads, distribution_id)


async def _listing(request: Request[Any, Any, Any], status: Status | None,
                   kind: DistributionKind | None, asset_id: UUID | None,
                   cursor: str | None) -> dict[str, Any]:
    reads: ReadModels = request.app.state.reads
    filters = (asset_id, status and status.value, kind and kind.value, None, None)
    body = await reads.cached("distributions", ("list", *filters, cursor, PAGE),
                              lambda: distribution_page(reads, filters, cursor, PAGE))
    found = msgspec.json.decode(body, type=schemas.DistributionPage)
    chosen = {k: v for k, v in (("status", status and status.value),
                                ("kind", kind and kind.value),
                                ("asset_id", asset_id and str(asset_id))) if v}
    return {"items": found.items, "next_cursor": found.next_cursor, "cursor": cursor,
            "assets": await queries.assets(reads), "chosen": chosen,
            "query": urlencode({**chosen, **({"cursor": cursor} if cursor else {})}),
            "filtered": urlencode(chosen), "statuses": [s.value for s in Status],
            "kinds": [k.value for k in DistributionKind]}


async def _state(request: Request[Any, Any, Any], d: schemas.Distribution) -> dict[str, Any]:
    eligible = d.eligible or 0
    failed_amount = await queries.failed_amount(request.app.state.reads, d.distribution_id) \
        if d.failed_count else 0
    net, paid_amount = int(d.net or 0), int(d.amount_paid)
    return {"asset": await asset_of(request, d), "progress": {
        "eligible": eligible, "paid": d.paid_count, "failed": d.failed_count,
        "pending": max(eligible - d.paid_count - d.failed_count, 0),
        "paid_amount": paid_amount, "failed_amount": failed_amount,
        "pending_amount": max(net - paid_amount - failed_amount, 0),
        # HTS airdrops waiting for their holders' claim (part of the pending above)
        "pending_claim": d.pending_claim_count,
        "pending_claim_amount": int(d.pending_claim_amount)}}


async def _timeline(request: Request[Any, Any, Any], distribution_id: UUID) -> dict[str, Any]:
    entries = await writes.call(audit.history, request.app.state.ledger, distribution_id)
    return {"timeline": _collapsed(entries), "distribution_id": distribution_id}


def _collapsed(entries: list[audit.HistoryEntry]) -> list[tuple[audit.HistoryEntry, int]]:
    """Each entry with how many like it it stands for: a run of progress records (one per
    settled batch: thousands for a large payout) shows as its latest."""
    shown: list[tuple[audit.HistoryEntry, int]] = []
    for entry in entries:
        if shown and entry.kind == PROGRESS and shown[-1][0].kind == PROGRESS:
            shown[-1] = (entry, shown[-1][1] + 1)
        else:
            shown.append((entry, 1))
    return shown


async def _batches(request: Request[Any, Any, Any], distribution_id: UUID,
                   bcursor: str | None) -> dict[str, Any]:
    reads: ReadModels = request.app.state.reads
    after = rows.decode_position(bcursor)
    body = await reads.cached("batches", ("batches", distribution_id, after, ROWS),
                              lambda: batch_page(reads, distribution_id, after, ROWS))
    found = msgspec.json.decode(body, type=schemas.BatchPage)
    return {"batches": found.items, "batches_next": found.next_cursor, "bcursor": bcursor}


async def _holders(request: Request[Any, Any, Any], d: schemas.Distribution,
                   hstatus: HolderStatus | None, account: str | None,
                   hcursor: str | None) -> dict[str, Any]:
    wanted, error = (account or "").strip() or None, None
    if wanted is not None:
        try:
            wanted = accounts.canonical(wanted)
        except InvalidAccount as err:
            error = str(err)
    found = schemas.HolderPage([], None) if error else await queries.holder_page(
        request.app.state.reads, d.distribution_id, status=hstatus and hstatus.value,
        account=wanted, cursor=hcursor, limit=ROWS)
    filters = {k: v for k, v in (("hstatus", hstatus and hstatus.value),
                                 ("account", account)) if v}
    return {"holders": found.items, "holders_next": found.next_cursor, "hcursor": hcursor,
            "hfilters": filters,
            "hparams": {**filters, **({"hcursor": hcursor} if hcursor else {})},
            "hfiltered": urlencode(filters), "account": account or "",
            "hstatus": hstatus and hstatus.value, "account_error": error,
            "holder_statuses": [s.value for s in HolderStatus]}
