"""Signing in with an API key, and out."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromQuery
from litestar.response import Redirect, Template

from api.auth import authenticate
from api.problems import Problem
from web import sessions
from web.auth import secure_cookie


def _safe_next(target: str | None) -> str:
    # Only our own pages: an open redirect after sign-in would hand the session to a phish.
    if target and target.startswith("/panel/") and not target.startswith("//"):
        return target
    return "/panel/"


class SessionController(Controller):
    path = "/"
    include_in_schema = False

    @get("/login", opt={"public": True})
    async def form(self, next: FromQuery[str | None] = None) -> Template:  # noqa: A002
        return Template("login.html", context={"next": _safe_next(next), "error": None})

    @post("/login", opt={"public": True}, status_code=303)
    async def sign_in(self, request: Request[Any, Any, Any], data: Annotated[
            dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Redirect | Template:
        target = _safe_next(data.get("next"))
        try:
            principal = await authenticate(request.app.state.reads, data.get("key", "").strip())
        except Problem as refused:
            return Template("login.html", status_code=401,
                            context={"next": target, "error": refused.detail})
        session_id, _ = await sessions.start(request.app.state.reads, principal)
        return Redirect(target, status_code=303, cookies=[Cookie(
            key=sessions.COOKIE, value=session_id, path="/panel", httponly=True,
            samesite="strict", secure=secure_cookie(request),
            max_age=int(sessions.LIFETIME.total_seconds()))])

    @post("/logout", status_code=200)
    async def sign_out(self, request: Request[Any, Any, Any]) -> Response[str]:
        """Ends the session everywhere; htmx then loads the sign-in page (`HX-Redirect`)."""
        await sessions.end(request.app.state.reads, request.cookies.get(sessions.COOKIE))
        return Response("", headers={"HX-Redirect": "/panel/login"}, cookies=[Cookie(
            key=sessions.COOKIE, value="", path="/panel", max_age=0, httponly=True,
            samesite="strict", secure=secure_cookie(request))])
