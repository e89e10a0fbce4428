"""Authentication (API key header) and authorization (role sets on each route's `opt`).

Verified keys are cached for a few seconds per process: the hot read path costs one digest
comparison, and a revoked key stops working within `CACHE_SECONDS`. When an entry expires, the
requests that find it expired share one verification instead of each querying the database
(under load that burst was the API's p99).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from psycopg import sql

from api.keys import READ, Principal, Role, matches, parse, table
from api.problems import Problem
from api.reads import ReadModels

HEADER = "X-API-Key"
CACHE_SECONDS = 5.0
_cache: dict[str, tuple[float, Principal]] = {}
_verifying: dict[str, asyncio.Future[Principal]] = {}


async def authenticate(reads: ReadModels, token: str | None) -> Principal:
    if not token:
        raise Problem(401, "unauthenticated", f"send an API key in the {HEADER} header",
                      headers={"WWW-Authenticate": "ApiKey"})
    cached = _cache.get(token)
    if cached and cached[0] > time.monotonic():
        return cached[1]
    shared = _verifying.get(token)
    if shared is None:
        shared = asyncio.ensure_future(_verify(reads, token))
        _verifying[token] = shared
        shared.add_done_callback(lambda _done: _verifying.pop(token, None))
    # shield: one caller going away must not cancel the others' verification
    return await asyncio.shield(shared)


async def _verify(reads: ReadModels, token: str) -> Principal:
    now = time.monotonic()
    parsed = parse(token)
    row = None
    if parsed:
        row = await reads.one(sql.SQL(
            "SELECT key_id, name, role, salt, digest FROM {} WHERE key_id = %s AND NOT revoked"
        ).format(table(reads.schema)), (parsed[0],))
    if parsed is None or row is None or not matches(row["salt"], parsed[1], row["digest"]):
        raise Problem(401, "unauthenticated", "unknown or revoked API key",
                      headers={"WWW-Authenticate": "ApiKey"})
    principal = Principal(row["key_id"], row["name"], Role(row["role"]))
    if len(_cache) > 10_000:
        _cache.clear()
    _cache[token] = (now + CACHE_SECONDS, principal)
    return principal


async def guard(connection: ASGIConnection[Any, Any, Any, Any],
                handler: BaseRouteHandler) -> None:
    """Every route names the roles it admits in `opt["roles"]`; none named: public."""
    roles: frozenset[Role] | None = handler.opt.get("roles")
    if roles is None:
        return
    reads: ReadModels = connection.app.state.reads
    principal = await authenticate(reads, connection.headers.get(HEADER))
    if principal.role not in roles:
        raise Problem(403, "forbidden",
                      f"role {principal.role} may not call {handler.handler_name or 'this'}")
    connection.state.principal = principal


def principal_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    """The acting key (set by the guard)."""
    principal: Principal = connection.state.principal
    return principal


__all__ = ["READ", "guard", "principal_of"]
