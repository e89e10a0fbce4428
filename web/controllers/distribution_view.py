"""What the distribution screens share: one distribution from the API's cached read, its
asset, and which actions the signed-in caller is offered (the API's roles, the ledger's
four-eyes rule)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import msgspec
from litestar import Request
from litestar.response import Template

from api import schemas
from api.keys import APPROVE, OPERATE
from api.problems import Problem
from api.queries import distribution_body
from api.reads import ReadModels
from domain.actors import principal, same_principal
from domain.distribution import Status
from web import queries
from web.auth import session_of
from web.render import page

CANCELLABLE = frozenset({Status.CREATED, Status.APPROVED, Status.SNAPSHOTTED, Status.COMMITTED})
RETRYABLE = frozenset({Status.EXECUTING, Status.COMPLETED_WITH_FAILURES})


def view(request: Request[Any, Any, Any], name: str, *, status_code: int = 200,
         **context: Any) -> Template:
    """`web.render.page`, with `who(actor)`: the principal an actor string names."""
    return page(request, name, status_code=status_code, who=principal, **context)


async def distribution(reads: ReadModels, distribution_id: UUID) -> schemas.Distribution:
    """getDistribution's row (through its cache); 404 when there is none."""
    body = await reads.cached("distributions", ("one", distribution_id),
                              lambda: distribution_body(reads, distribution_id))
    if body is None:
        raise Problem(404, "not-found", f"no distribution {distribution_id}")
    return msgspec.json.decode(body, type=schemas.Distribution)


async def asset_of(request: Request[Any, Any, Any], d: schemas.Distribution) -> dict[str, Any]:
    found = await queries.assets(request.app.state.reads)
    return found.get(d.asset_id) or {"symbol": "?", "decimals": 0, "payment_decimals": 0,
                                     "payment_token": ""}


def actions_context(request: Request[Any, Any, Any], d: schemas.Distribution,
                    **errors: str) -> dict[str, Any]:
    """What the caller may do to `d` now. Which buttons show depends only on the status (and
    the caller), so the live actions fragment is re-rendered only when the status changes."""
    me = session_of(request).principal
    maker = same_principal(me.actor, d.created_by)
    approver, operator = me.role in APPROVE, me.role in OPERATE
    return {"d": d, "seen": d.status.value, "maker": maker, "errors": errors,
            "can_approve": d.status is Status.CREATED and approver and not maker,
            "awaiting_approval": d.status is Status.CREATED,
            "can_execute": d.status is Status.COMMITTED and operator,
            "has_queue": request.app.state.queue is not None,
            "can_cancel": d.status in CANCELLABLE and approver,
            "can_retry": d.status in RETRYABLE and approver}
