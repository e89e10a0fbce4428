"""One mapping from errors to RFC 9457 problem+json responses, and their documentation.

Domain errors map by class; Litestar's own HTTP errors (validation, routing, auth) keep
their status; anything else is a 500 and is logged, since it means a bug, never bad input.

`ProblemDocs` documents the same mapping on every route, derived from what the route
declares (guarded, path parameters, read-your-writes, a write): generated clients and
contract tests see each problem a route can answer, without a list per route to forget.
"""

from __future__ import annotations

import logging
from typing import Any

import eventsourcing.persistence as es
import msgspec
import psycopg
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.datastructures import ResponseSpec
from litestar.plugins import ReceiveRoutePlugin
from litestar.routes import BaseRoute, HTTPRoute
from redis.exceptions import RedisError

from api.schemas import ProblemDetails
from chain.token_reader import TokenReadError
from domain.errors import (
    AlreadyExists,
    DomainError,
    IllegalTransition,
    InvalidField,
    InvalidInput,
    MakerCheckerViolation,
    NotFound,
)

log = logging.getLogger(__name__)
PROBLEM_JSON = "application/problem+json"

# Most specific first: IdempotencyConflict is an AlreadyExists.
DOMAIN_STATUS: tuple[tuple[type[DomainError], int, str], ...] = (
    (InvalidInput, 422, "invalid-input"),
    (IllegalTransition, 409, "illegal-transition"),
    (MakerCheckerViolation, 403, "maker-checker"),
    (NotFound, 404, "not-found"),
    (AlreadyExists, 409, "conflict"),
    (DomainError, 422, "refused"),
)

WHY = {
    400: "Malformed request: validation errors, or a cursor this API did not issue",
    401: "No API key, or an unknown or revoked one",
    403: "The key's role may not call this, or the four-eyes rule refused it",
    404: "No such resource",
    405: "Method not allowed",
    409: "The resource's state does not allow this, the idempotency key was used for another"
         " request, or the ledger has not recorded the position waited for",
    422: "Refused by the ledger's rules, or the token does not read as a security token",
    503: "A dependency is unavailable, or a read model has not reached the position yet",
}


class Problem(HTTPException):
    """An API-level problem raised by our handlers (auth, lag, bad cursors)."""

    def __init__(self, status: int, slug: str, detail: str,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(detail=detail, status_code=status, headers=headers)
        self.slug = slug


def problem(status: int, slug: str, title: str, detail: str, request: Request[Any, Any, Any],
            headers: dict[str, str] | None = None, **extra: Any) -> Response[Any]:
    body = {"type": f"/problems/{slug}", "title": title, "status": status, "detail": detail,
            "instance": request.url.path, **extra}
    return Response(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def domain_error(request: Request[Any, Any, Any], exc: DomainError) -> Response[Any]:
    extra: dict[str, Any] = {"field": exc.field} if isinstance(exc, InvalidField) else {}
    for kind, status, slug in DOMAIN_STATUS:
        if isinstance(exc, kind):
            return problem(status, slug, type(exc).__name__, str(exc), request, **extra)
    raise AssertionError("unreachable: DomainError is the last entry")  # pragma: no cover


def token_error(request: Request[Any, Any, Any], exc: TokenReadError) -> Response[Any]:
    """The chain does not show what an import needs (no contract, a plain ERC-20, ...)."""
    return problem(422, "token-unreadable", type(exc).__name__, str(exc), request)


def queue_error(request: Request[Any, Any, Any], exc: RedisError) -> Response[Any]:
    """Redis is down. A start of execution is recorded before its jobs are queued, and the
    supervisor queues the batches of executing distributions: nothing is lost."""
    log.warning("job queue unavailable on %s: %s", request.url.path, exc)
    return problem(503, "queue-unavailable", type(exc).__name__,
                   "the job queue (Redis) is unavailable; what the ledger recorded stands",
                   request, {"Retry-After": "5"})


def database_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """PostgreSQL is down or too slow (a pool wait, a connect, a statement timed out): a 503
    to retry. A ledger command that failed recorded nothing: its save is one statement.
    Other persistence errors (a bug in a query, a constraint) stay unexpected 500s."""
    if not unavailable(exc):
        return unexpected(request, exc)
    log.warning("database unavailable on %s: %s", request.url.path, exc)
    return problem(503, "database-unavailable", "Service Unavailable",
                   "the database (PostgreSQL) is unavailable; nothing was recorded",
                   request, {"Retry-After": "5"})


def unavailable(exc: BaseException | None) -> bool:
    """The database could not be reached or answered in time, as psycopg or eventsourcing
    (which wraps psycopg's errors, and whose DatabaseUnavailable carries the last) tell it."""
    while exc is not None:
        if isinstance(exc, psycopg.OperationalError | es.OperationalError | es.InterfaceError):
            return True
        exc = exc.__cause__
    return False


def http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    if isinstance(exc, Problem):
        return problem(exc.status_code, exc.slug, exc.slug.replace("-", " "), exc.detail,
                       request, exc.headers)
    extra: dict[str, Any] = {}
    if isinstance(exc, ValidationException) and exc.extra:
        extra["errors"] = exc.extra
    slug = "validation" if isinstance(exc, ValidationException) else f"http-{exc.status_code}"
    return problem(exc.status_code, slug, type(exc).__name__, exc.detail, request, exc.headers,
                   **extra)


def unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem(500, "internal", "Internal Server Error", "an unexpected error was logged",
                   request)


# Litestar picks a handler along the error's MRO, most specific class first. ChainError is left
# out on purpose: a TokenReadError is bad input (422); any other chain error in a request (the
# RPC down, a revert) is no fault of the client's and stays an unexpected 500.
HANDLERS: dict[int | type[Exception], Any] = {
    DomainError: domain_error,
    TokenReadError: token_error,
    RedisError: queue_error,
    psycopg.Error: database_error,  # PoolTimeout is a psycopg OperationalError
    es.PersistenceError: database_error,
    HTTPException: http_error,
    Exception: unexpected,
}


def statuses(handler: HTTPRouteHandler, path_parameters: set[str]) -> set[int]:
    """The problems a route can answer, from what it declares."""
    found: set[int] = set(handler.opt.get("problems", ()))
    names = set(handler.parsed_fn_signature.parameters) - {"self", "request"}
    found.add(400)  # validation, or an unknown query parameter
    if handler.opt.get("roles") is not None:
        found |= {401, 403, 503}  # the key is checked in the database, which may be down
    if path_parameters:
        found.add(404)  # an unknown id, or one that does not parse
    if "wait_for_position" in names:
        found |= {409, 503}  # an unrecorded position; a read model too far behind
    if handler.http_methods - {"GET", "HEAD"}:
        found |= {status for _, status, _ in DOMAIN_STATUS}  # a ledger command
    if any(_date_time(p.kwarg_definition) for p in handler.parsed_fn_signature.parameters.values()):
        found.add(422)  # a day the calendar lacks (02-31): the pattern cannot say it
    return found


def _date_time(definition: object) -> bool:
    """A query parameter documented as a date-time (api.params.DateTimeQuery and its kin)."""
    extra = getattr(definition, "schema_extra", None) or {}
    return bool(extra.get("format") == "date-time")


class ProblemDocs(ReceiveRoutePlugin):
    """Documents every route's problem+json responses (routes' own `responses` win), and
    records the query parameters each route accepts, for `reject_unknown_query`, and the
    methods of each path, for its OPTIONS answer.

    Why the methods: Litestar 2.25 turns a controller into a router one handler at a time;
    the OPTIONS handler is made with the path's first route (`POST /distributions`), and the
    routes that later merge GET into that path keep it, so its `Allow` names only POST. The
    final route, which this plugin receives, knows every method."""

    def receive_route(self, route: BaseRoute) -> None:
        if not isinstance(route, HTTPRoute):
            return
        options = route.route_handler_map.get("OPTIONS")
        if options is not None:
            options[0].opt["allow"] = ", ".join(sorted(route.methods))
        for handler, kwargs_model in route.route_handler_map.values():
            handler.opt["query"] = frozenset(
                p.field_alias for p in kwargs_model.expected_query_params)
            body = handler.parsed_fn_signature.parameters.get("data")
            if body is not None and handler.resolve_include_in_schema():
                handler.opt["body"] = body.annotation  # JSON bodies; the panel posts forms
            if not handler.resolve_include_in_schema():
                continue
            documented = {status: ResponseSpec(ProblemDetails, description=WHY[status],
                                               media_type=PROBLEM_JSON, generate_examples=False)
                          for status in sorted(statuses(handler, set(route.path_parameters)))}
            handler.responses = {**documented, **(handler.responses or {})}


def _integral(value: Any) -> Any:
    """JSON Schema's `integer` includes 7.0: as an int, which a strict conversion takes."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [_integral(v) for v in value]
    if isinstance(value, dict):
        return {k: _integral(v) for k, v in value.items()}
    return value


async def _strict_body(request: Request[Any, Any, Any]) -> None:
    """A body of the types its JSON says: Litestar converts bodies leniently (`0` for false,
    `"5"` for 5), which the document does not allow. Converted strictly first (an integral
    float aside, which JSON Schema counts as an integer), so Litestar's conversion that
    follows only ever sees what the document allows."""
    body: type[Any] | None = request.route_handler.opt.get("body")
    if body is None:
        return
    raw = await request.body()
    if not raw:  # no body: Litestar's own validation says it is missing
        return
    try:
        msgspec.convert(_integral(msgspec.json.decode(raw)), body, strict=True)
    except msgspec.DecodeError as err:  # malformed JSON, or a ValidationError
        raise ValidationException(detail="Validation failed for " + request.method + " "
                                  + request.url.path, extra=[{"message": str(err),
                                                              "source": "body"}]) from None


async def reject_unknown_query(request: Request[Any, Any, Any]) -> Response[Any] | None:
    """A misspelt filter (`?statuss=FAILED`) must not silently return every row.

    A `before_request` hook rather than a guard: Litestar copies the handler for each guard.
    It also answers OPTIONS with every method of the path (see `ProblemDocs`).
    """
    allow = request.route_handler.opt.get("allow")
    if request.method == "OPTIONS" and allow is not None:
        return Response(None, status_code=204, headers={"Allow": allow})
    await _strict_body(request)
    if not request.scope["query_string"]:
        return None
    allowed: frozenset[str] | None = request.route_handler.opt.get("query")
    unknown = set(request.query_params) - allowed if allowed is not None else set()
    if unknown:
        raise Problem(400, "unknown-parameter",
                      f"unknown query parameters: {', '.join(sorted(unknown))}")
    return None
