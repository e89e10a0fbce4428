"""Errors at the panel: a clear message where the operator is looking, never a trace.

The same mapping as the API's (`api.problems`): a refused command keeps its status and its
message. An htmx request gets the message in the page's flash area (`HX-Retarget`); a page
load gets an error page. Without a session the browser goes to the sign-in page.
"""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.response import Redirect, Template
from redis.exceptions import RedisError

from api.problems import DOMAIN_STATUS, unavailable
from chain.errors import ChainError
from domain.errors import DomainError
from web.auth import SignInRequired, login_url

log = logging.getLogger(__name__)


def describe(exc: Exception) -> tuple[int, str]:
    """(status, the message an operator reads)."""
    if isinstance(exc, DomainError):
        status = next(code for kind, code, _ in DOMAIN_STATUS if isinstance(exc, kind))
        return status, str(exc)
    if isinstance(exc, ValidationException):
        return 400, "the form is not valid: " + "; ".join(
            str(e.get("message", e)) for e in (exc.extra or []) if isinstance(e, dict)) \
            if isinstance(exc.extra, list) else str(exc.detail)
    if isinstance(exc, HTTPException):
        return exc.status_code, str(exc.detail)
    if isinstance(exc, RedisError):
        return 503, "the job queue (Redis) is unavailable; what the ledger recorded stands"
    if isinstance(exc, ChainError):
        return 502, f"the chain refused or did not answer: {exc}"
    if unavailable(exc):
        return 503, "the database is unavailable; nothing was recorded. Try again shortly"
    log.exception("unexpected error at the panel", exc_info=exc)
    return 500, "something went wrong on our side; nothing half-done was recorded"


def handle(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    htmx = request.headers.get("hx-request") == "true"
    if isinstance(exc, SignInRequired):
        target = login_url(str(exc.detail))
        if htmx:
            return Response("", status_code=200, headers={"HX-Redirect": target})
        return Redirect(target, status_code=303)
    status, message = describe(exc)
    if htmx:
        return Template("_flash.html", status_code=status,
                        context={"message": message, "level": "error"},
                        headers={"HX-Retarget": "#flash", "HX-Reswap": "innerHTML"})
    return Template("error.html", status_code=status,
                    context={"status": status, "message": message})
