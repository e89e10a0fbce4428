"""A real HTTP receiver on loopback, and the webhook parts on the test's PostgreSQL."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from app.webhook_delivery import Deliverer, Policy
from app.webhooks import Webhooks
from projections.registry import open_projection
from projections.runner import Runner
from projections.webhooks import Webhooks as WebhooksProjection
from tests.projections.conftest import views  # noqa: F401  # fixture

LOOPBACK = ("127.0.0.1",)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """Answers `status` (after failing the next `fail` requests with 500) and records
    every request it was sent."""

    url: str = ""
    status: int = 200
    fail: int = 0
    delay: float = 0.0  # seconds each answer takes
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self) -> int:
        with self.lock:
            if self.fail > 0:
                self.fail -= 1
                return 500
            return self.status


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # http.server's naming
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with state.lock:
                state.received.append(Received(self.path, dict(self.headers.items()), body))
            code = state.answer()
            time.sleep(state.delay)
            self.send_response(code)
            self.end_headers()
            self.wfile.write(b"x" * 1_000 if code >= 500 else b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    yield state
    server.shutdown()
    server.server_close()


class Clock:
    """The real time, moved forward by the test (backoffs of hours in no time)."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, **delta: float) -> None:
        self.offset += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def webhooks(ledger, database_url, schema) -> Webhooks:
    return Webhooks(ledger, database_url, schema, allow=LOOPBACK)


@pytest.fixture
def outbox(ledger, views) -> Runner:  # noqa: F811
    """The webhooks projection alone, stepped by the test (`outbox.catch_up()`)."""
    return Runner(ledger, open_projection(views, WebhooksProjection))


@pytest.fixture
def deliverer(ledger, database_url, schema, clock) -> Iterator[Deliverer]:
    made = Deliverer(ledger, database_url, schema, clock=clock,
                     policy=Policy(timeout=2.0, allow=LOOPBACK, disable_after=20))
    yield made
    made.close()
