"""Authentication (API key header) and authorization (role sets on each route's `opt`).

Verified keys are kept in the read models' cache (`ReadModels.cached`, under `keys.VIEW`):
the hot path costs a dict lookup and an expiry comparison, no database round trip.
Revoking or rotating a key announces it on the channel that cache already listens to, so every
API process forgets its verified keys when the revocation commits, and the next request is
verified afresh. While that listener is not connected nothing is cached, and every request
verifies its key in the database (one indexed query): slower, never stale. Concurrent
requests bearing one unverified key share one verification (under load a burst of misses was
the API's p99).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import psycopg
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from psycopg import sql

from api.keys import READ, VIEW, Principal, Role, matches, parse, table
from api.problems import Problem
from api.reads import ReadModels

HEADER = "X-API-Key"


def _refused(detail: str) -> Problem:
    return Problem(401, "unauthenticated", detail, headers={"WWW-Authenticate": "ApiKey"})


async def authenticate(reads: ReadModels, token: str | None) -> Principal:
    if not token:
        raise _refused(f"send an API key in the {HEADER} header")
    principal = await reads.cached(VIEW, token, lambda: _verify(reads, token))
    if principal.expires_at is not None and principal.expires_at <= datetime.now(UTC):
        raise _refused("expired API key")
    return principal


async def _verify(reads: ReadModels, token: str) -> Principal:
    parsed = parse(token)
    row = None
    if parsed:
        try:
            row = await reads.one(sql.SQL(
                "SELECT key_id, name, role, salt, digest, principal, expires_at FROM {}"
                " WHERE key_id = %s AND NOT revoked").format(table(reads.schema)), (parsed[0],))
        except psycopg.errors.UndefinedTable:
            row = None  # no key was ever made
    if parsed is None or row is None or not matches(row["salt"], parsed[1], row["digest"]):
        raise _refused("unknown or revoked API key")
    return Principal(row["key_id"], row["name"], Role(row["role"]), row["principal"],
                     row["expires_at"])


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
    """The acting key and its principal (set by the guard)."""
    principal: Principal = connection.state.principal
    return principal


__all__ = ["READ", "guard", "principal_of"]
