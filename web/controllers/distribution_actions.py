"""A distribution's actions at the panel: approve, execute, retry (all or chosen holders),
cancel. Each is an htmx POST that runs the ledger command the API's route runs
(`api.controllers.distributions`, `api.writes`) as the signed-in principal, and answers with
the refreshed actions fragment (SSE refreshes the page's other parts). Refusals keep the
API's status and message (`web.errors`); a missing reason marks its field, 422, nothing
recorded."""

from __future__ import annotations

import contextlib
from typing import Any
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Template

from api import schemas, writes
from api.keys import APPROVE, OPERATE
from api.problems import Problem
from api.reads import ReadModels
from web.auth import session_of
from web.controllers.distribution_view import actions_context, distribution, view

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
                           f"Execution started: {queued:,} batches queued.")

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
    queued = (f"{started.batches_queued:,} batches queued" if started.queued_by == "api"
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
