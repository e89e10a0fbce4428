"""Who is at the panel: the session guard, CSRF, and signing in and out.

Every panel route names the roles it admits in `opt["panel_roles"]` (the API's role sets, so a
role means the same at both doors); none named: any signed-in role. A request without a live
session is sent to the sign-in page (htmx requests are told to go there with `HX-Redirect`).
Every unsafe request must carry the session's CSRF token in `X-CSRF-Token` (htmx sends it
from the page's `hx-headers`) and, when the browser names one, an `Origin` of this host.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlsplit

from litestar.connection import ASGIConnection
from litestar.exceptions import HTTPException
from litestar.handlers.base import BaseRouteHandler

from api.keys import READ, Role
from api.reads import ReadModels
from web import sessions

SAFE = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "X-CSRF-Token"
LOGIN = "/panel/login"


class SignInRequired(HTTPException):
    """No live session: the browser goes to the sign-in page."""

    status_code = 401


class PanelForbidden(HTTPException):
    status_code = 403


async def panel_guard(connection: ASGIConnection[Any, Any, Any, Any],
                      handler: BaseRouteHandler) -> None:
    roles: frozenset[Role] = handler.opt.get("panel_roles", READ)
    if handler.opt.get("public"):
        return
    reads: ReadModels = connection.app.state.reads
    session = await sessions.find(reads, connection.cookies.get(sessions.COOKIE))
    if session is None:
        raise SignInRequired(detail=_next(connection))
    method = connection.scope.get("method", "GET")
    if method not in SAFE:
        if not session.accepts(connection.headers.get(CSRF_HEADER)):
            raise PanelForbidden(detail="this form has expired: reload the page and try again")
        origin = connection.headers.get("origin")
        if origin and urlsplit(origin).netloc != connection.headers.get("host"):
            raise PanelForbidden(detail="a request from another site was refused")
    if session.principal.role not in roles:
        raise PanelForbidden(detail=f"the {session.principal.role} role may not do this")
    connection.state.session = session


def session_of(connection: ASGIConnection[Any, Any, Any, Any]) -> sessions.Session:
    """The caller's session (set by the guard)."""
    session: sessions.Session = connection.state.session
    return session


def login_url(next_path: str) -> str:
    return f"{LOGIN}?next={quote(next_path, safe='/')}"


def _next(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    # htmx fragments are not pages: after signing in, go back to the page that asked.
    current = connection.headers.get("hx-current-url")
    path = urlsplit(current).path if current else connection.url.path
    return path if path.startswith("/panel/") else "/panel/"


def secure_cookie(connection: ASGIConnection[Any, Any, Any, Any]) -> bool:
    """Secure everywhere but loopback (plain http on a developer's machine)."""
    host = (connection.url.hostname or "").lower()
    return host not in {"localhost", "127.0.0.1", "::1"}
