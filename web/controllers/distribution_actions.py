"""A distribution's actions at the panel: approve, execute, retry (all or chosen holders),
cancel; and its treasury operations (ask to reclaim or sweep, approve one). Each is an htmx
POST that runs the ledger command the API's route runs (`api.controllers.distributions`,
`api.controllers.treasury`, `api.writes`) as the signed-in principal, and answers with the
refreshed actions (or treasury) fragment (SSE refreshes the page's other parts). Refusals keep the
API's status and message (`web.errors`); a missing reason marks its field, 422, nothing
recorded."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Template
from psycopg import sql
from rq import Queue

from api import schemas, writes
from api.keys import APPROVE, OPERATE
from api.problems import Problem
from api.queries import sweep_account_rows
from api.reads import ReadModels
from app import treasury
from domain.actors import principal
from domain.distribution import Status
from domain.treasury import SweepDestination
from web.auth import session_of
from web.controllers.distribution_view import actions_context, asset_of, distribution, view

REASON_MAX = 500  # schemas.CancelRequest / RetryRequest


class DistributionActions(Controller):
    path = "/distributions/{distribution_id:uuid}"
    include_in_schema = False

    @get("/fragments/actions")
    async def actions_fragment(self, request: Request[Any, Any, Any],
                               distribution_id: FromPath[UUID],
                               seen: FromQuery[str | None] = None) -> Response[Any]:
        """204 (no swap) while the status the page shows is current: a live refresh never
        wipes a reason being typed."""
        d = await distribution(request.app.state.reads, distribution_id)
        if seen == d.status.value:
            return Response(None, status_code=204)
        return view(request, "_distribution_actions.html", **actions_context(request, d))

    @post("/approve", opt={"panel_roles": APPROVE}, status_code=200)
    async def approve(self, request: Request[Any, Any, Any],
                      distribution_id: FromPath[UUID]) -> Template:
        ledger = request.app.state.ledger
        position = await writes.call(ledger.approve_distribution, distribution_id,
                                     _actor(request))
        return await _done(request, distribution_id, position, "Approved.")

    @post("/execute", opt={"panel_roles": OPERATE}, status_code=200)
    async def execute(self, request: Request[Any, Any, Any],
                      distribution_id: FromPath[UUID]) -> Template:
        state = request.app.state
        if state.queue is None:
            raise Problem(503, "queue-unavailable",
                          "this server has no job queue (set REDIS_URL): nothing was started")
        position, queued = await writes.call(writes.execute, state.ledger, state.queue,
                                             distribution_id, _actor(request))
        return await _done(request, distribution_id, position,
                           f"Execution started: {_batches(queued)} queued.")

    @post("/cancel", opt={"panel_roles": APPROVE}, status_code=200)
    async def cancel(self, request: Request[Any, Any, Any],
                     distribution_id: FromPath[UUID]) -> Template:
        form = await request.form()
        reason, error = _reason(form.get("reason"))
        if error:
            return await _refused(request, distribution_id, cancel_reason=error)
        ledger = request.app.state.ledger
        position = await writes.call(ledger.cancel_distribution, distribution_id,
                                     _actor(request), reason)
        return await _done(request, distribution_id, position, "Cancelled.")

    @post("/retry", opt={"panel_roles": APPROVE}, status_code=200)
    async def retry_all(self, request: Request[Any, Any, Any],
                        distribution_id: FromPath[UUID]) -> Template:
        form = await request.form()
        reason, error = _reason(form.get("reason"))
        if error:
            return await _refused(request, distribution_id, retry_reason=error)
        return await _retry(request, distribution_id, schemas.RetryRequest(reason))

    @post("/retry-selected", opt={"panel_roles": APPROVE}, status_code=200)
    async def retry_selected(self, request: Request[Any, Any, Any],
                             distribution_id: FromPath[UUID]) -> Template:
        form = await request.form()
        reason, error = _reason(form.get("reason"))
        raw = [str(v) for v in form.getall("leaf")] if "leaf" in form else []
        if error:
            return await _refused(request, distribution_id, retry_reason=error)
        if not raw:
            return await _refused(request, distribution_id,
                                  selection="tick the failed holders to retry first")
        if not all(v.isascii() and v.isdigit() for v in raw) or len(raw) > 10_000:
            return await _refused(request, distribution_id,
                                  selection="the selection is not a list of leaf indices")
        return await _retry(request, distribution_id,
                            schemas.RetryRequest(reason, sorted({int(v) for v in raw})))


    # --- treasury: reclaim and sweep (four eyes; the treasurer's process sends them) ---

    @get("/fragments/treasury")
    async def treasury_fragment(self, request: Request[Any, Any, Any],
                                distribution_id: FromPath[UUID]) -> Template:
        return await _treasury(request, distribution_id)

    @post("/reclaim", opt={"panel_roles": OPERATE}, status_code=200)
    async def reclaim(self, request: Request[Any, Any, Any],
                      distribution_id: FromPath[UUID]) -> Template:
        form = await request.form()
        reason, error = _reason(form.get("reason"))
        if error:
            return await _treasury(request, distribution_id, status_code=422,
                                   reclaim_reason=error)
        number, position = await writes.call(
            request.app.state.ledger.request_reclaim, distribution_id, actor=_actor(request),
            reason=reason, now=datetime.now(UTC))
        return await _treasury(request, distribution_id, position=position,
                               flash=f"Reclaim {number} asked: another approver approves it.")

    @post("/sweeps", opt={"panel_roles": OPERATE}, status_code=200)
    async def sweep(self, request: Request[Any, Any, Any],
                    distribution_id: FromPath[UUID]) -> Template:
        form = await request.form()
        reason, error = _reason(form.get("reason"))
        raw = str(form.get("amount") or "").strip()
        if not (raw.isascii() and raw.isdigit() and int(raw) > 0 and len(raw) <= 78):
            return await _treasury(request, distribution_id, status_code=422,
                                   amount="a whole number of smallest units, above 0")
        if error:
            return await _treasury(request, distribution_id, status_code=422,
                                   sweep_reason=error)
        to = str(form.get("destination") or SweepDestination.TREASURY.value)
        if to not in SweepDestination.__members__:
            return await _treasury(request, distribution_id, status_code=422,
                                   destination=f"one of {', '.join(SweepDestination)}")
        number, position = await writes.call(
            request.app.state.ledger.request_sweep, distribution_id, actor=_actor(request),
            amount=int(raw), reason=reason, now=datetime.now(UTC),
            destination=SweepDestination(to))
        return await _treasury(request, distribution_id, position=position,
                               flash=f"Sweep {number} of {int(raw):,} units to"
                                     f" {to.lower().replace('_', ' ')} asked: another"
                                     " approver approves it.")

    @post("/treasury-ops/{number:int}/approve", opt={"panel_roles": APPROVE}, status_code=200)
    async def approve_treasury(self, request: Request[Any, Any, Any],
                               distribution_id: FromPath[UUID],
                               number: FromPath[int]) -> Template:
        state = request.app.state
        queue = Queue(treasury.QUEUE_NAME, connection=state.queue.connection) \
            if state.queue is not None else None
        position, _ = await writes.call(treasury.approve, state.ledger, queue,
                                        distribution_id, number, _actor(request))
        sent = "queued for the treasurer" if queue is not None else \
            "this server has no queue: queue it with `mass-payout treasury approve`"
        return await _treasury(request, distribution_id, position=position,
                               flash=f"Approved; {sent}.")


async def _treasury(request: Request[Any, Any, Any], distribution_id: UUID, *,
                    status_code: int = 200, position: int = 0, flash: str | None = None,
                    **errors: str) -> Template:
    """The treasury section: the operations (from their read model) and what the caller may
    ask or approve."""
    reads: ReadModels = request.app.state.reads
    if position:
        with contextlib.suppress(Problem):
            await reads.wait_for(position, "treasury_ops", "distributions")
    d = await distribution(reads, distribution_id)
    ops = await reads.all(sql.SQL(
        "SELECT number, kind, state, amount::text AS amount, requested_by, approved_by,"
        " tx_hash, rejection, destination, recipient FROM {} WHERE distribution_id = %s"
        " ORDER BY number").format(
        reads.table("treasury_ops")), (distribution_id,))
    me = session_of(request).principal
    on_chain = d.commit_tx is not None and d.status is not Status.CANCELLED
    accounts = await sweep_account_rows(reads, d.asset_id)
    return view(request, "_treasury.html", status_code=status_code, d=d,
                asset=await asset_of(request, d), ops=ops, errors=errors, flash=flash,
                sweep_accounts={a["destination"]: a["account"] for a in accounts},
                me=principal(me.actor), can_approve=me.role in APPROVE,
                can_request=on_chain and me.role in OPERATE,
                past_deadline=d.claim_deadline is not None
                and datetime.now(UTC) > d.claim_deadline)


def _actor(request: Request[Any, Any, Any]) -> str:
    return session_of(request).principal.actor


def _reason(value: Any) -> tuple[str, str | None]:
    reason = str(value or "").strip()
    if not reason:
        return reason, "a reason is required (it is recorded with the action)"
    if len(reason) > REASON_MAX:
        return reason, f"at most {REASON_MAX} characters"
    return reason, None


async def _retry(request: Request[Any, Any, Any], distribution_id: UUID,
                 body: schemas.RetryRequest) -> Template:
    state = request.app.state
    started: schemas.RetryStarted = await writes.call(
        writes.retry, state.ledger, state.queue, distribution_id, _actor(request), body)
    queued = (f"{_batches(started.batches_queued)} queued" if started.queued_by == "api"
              else "the supervisor queues the batches")
    return await _done(request, distribution_id, started.position,
                       f"Retrying {started.leaves_retried:,} holders"
                       f" ({started.batches_unblocked:,} batches unblocked): {queued}.")


async def _refused(request: Request[Any, Any, Any], distribution_id: UUID,
                   **errors: str) -> Template:
    d = await distribution(request.app.state.reads, distribution_id)
    return view(request, "_distribution_actions.html", status_code=422,
                **actions_context(request, d, **errors))


async def _done(request: Request[Any, Any, Any], distribution_id: UUID, position: int,
                message: str) -> Template:
    """The actions as they stand once the read model has the write (or, if it lags, as it
    has them: the SSE refresh follows), and the outcome in the flash area."""
    reads: ReadModels = request.app.state.reads
    with contextlib.suppress(Problem):
        await reads.wait_for(position, "distributions")
    d = await distribution(reads, distribution_id)
    return view(request, "_distribution_actions.html", flash=message,
                **actions_context(request, d))


def _batches(count: int) -> str:
    return f"{count:,} batch" if count == 1 else f"{count:,} batches"

