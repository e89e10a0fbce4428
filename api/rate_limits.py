"""Rate limits: per API key, or per client address for requests without one.

Litestar's `RateLimitMiddleware` counts (a fixed window of one minute); this module picks the
identity and makes the refusal a problem+json 429 with `Retry-After`, like every other
refusal (Litestar's own 429 has only the `RateLimit-*` draft headers).

The key is identified by a hash of the whole header, not by its id: key ids appear in the
recorded actors, and a limit by id would let anyone exhaust another's key with wrong secrets.
Counts live in the process (Litestar's memory store): N API processes admit up to N times the
limit. `/health` is never limited (probes come from one address).
"""

from __future__ import annotations

import hashlib
from typing import Any

from litestar.connection import Request
from litestar.exceptions import TooManyRequestsException
from litestar.middleware.base import DefineMiddleware
from litestar.middleware.rate_limit import (
    RateLimitConfig,
    RateLimitMiddleware,
    get_remote_address,
)
from litestar.types import Receive, Scope, Send

from api.auth import HEADER
from api.problems import Problem


def identify(request: Request[Any, Any, Any]) -> str:
    token = request.headers.get(HEADER)
    if token:
        return "key:" + hashlib.blake2b(token.encode(), digest_size=16).hexdigest()
    return "address:" + get_remote_address(request)


class _ProblemRateLimit(RateLimitMiddleware):
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        except TooManyRequestsException as exc:
            headers = dict(exc.headers or {})
            reset = headers.get(self.config.rate_limit_reset_header_key, "60")
            headers["Retry-After"] = str(max(1, int(reset)))
            raise Problem(429, "rate-limited",
                          f"more than {self.max_requests} requests a {self.unit} from this"
                          " key (or, without a key, this address)", headers) from None


def rate_limit(per_minute: int) -> DefineMiddleware:
    """The middleware admitting `per_minute` requests a minute per key (or address)."""
    return RateLimitConfig(rate_limit=("minute", per_minute), identifier_for_request=identify,
                           exclude=["^/health$"], middleware_class=_ProblemRateLimit,
                           ).middleware
