"""Live pages: one server-sent event stream per tab, fed by the projections' NOTIFY.

The read models announce every commit (`projections.store`); `ReadModels.changes()` hands them
to each stream here, which names the read model that changed (`event: distributions`). Page
fragments that show a read model refetch themselves on its event (`hx-trigger="sse:…"`), so a
screen changes within a notification's delivery of the commit, and no tab polls. Bursts are
coalesced: at most one event per read model per `COALESCE` seconds (a payout of 100k holders
commits many times a second; the page needs the latest state, not every step).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from litestar import Request, get
from litestar.response import ServerSentEvent, ServerSentEventMessage

from api.reads import ReadModels

COALESCE = 0.1  # seconds: the worst added latency, and at most ten events a second per view
KEEPALIVE = 15.0  # seconds: a `clock` event, so proxies keep an idle stream, and what ages
# without a commit (a scheduler that stopped ticking) is looked at again


async def _events(reads: ReadModels) -> AsyncIterator[ServerSentEventMessage]:
    with reads.changes() as changes:
        yield ServerSentEventMessage(event="hello", data="live")
        while True:
            try:
                first = await asyncio.wait_for(changes.get(), KEEPALIVE)
            except TimeoutError:
                yield ServerSentEventMessage(event="clock", data="tick")
                continue
            changed = {first}
            await asyncio.sleep(COALESCE)
            with contextlib.suppress(asyncio.QueueEmpty):
                while True:
                    changed.add(changes.get_nowait())
            for view in sorted(changed):
                yield ServerSentEventMessage(event=view, data=view)


@get("/events", include_in_schema=False, sync_to_thread=False)
def events(request: Request[Any, Any, Any]) -> ServerSentEvent:
    """The stream a panel page connects to (`sse-connect`)."""
    return ServerSentEvent(_events(request.app.state.reads),
                           headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
