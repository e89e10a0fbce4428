"""The dashboard: distributions by state, and everything that needs a person."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get
from litestar.response import Template

from domain.distribution import Status
from web import attention
from web.render import page


class DashboardController(Controller):
    path = "/"
    include_in_schema = False

    @get("/")
    async def dashboard(self, request: Request[Any, Any, Any]) -> Template:
        return page(request, "dashboard.html", **await _state(request))

    @get("/fragments/attention")
    async def attention_fragment(self, request: Request[Any, Any, Any]) -> Template:
        return page(request, "_attention.html", **await _state(request))


async def _state(request: Request[Any, Any, Any]) -> dict[str, Any]:
    state = request.app.state
    counts = await attention.by_status(state.reads)
    return {"statuses": [(s.value, counts.get(s.value, 0)) for s in Status],
            "items": await attention.items(state.reads, state.ingestion_lag)}
