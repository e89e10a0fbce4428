"""`mass-payout bench webhooks`: deliveries per second to a local receiver, and the time from a
ledger event to its delivery.

The production shape, on loopback: the real `mass-payout project` and `mass-payout webhooks
deliver` processes (the deliverer at its defaults), one endpoint, and a receiver that answers
200 at once (a uvicorn process of its own, so it never competes with the deliverer for a
GIL; it stamps each request when it arrives).

1. Throughput: `holders` (2,000) distributions are created (one `distribution.created` each,
   each its own ordering chain) and projected into the outbox before the deliverer starts;
   deliveries per second is the count over the span from the first arrival to the last.
2. Latency: with both processes running, LATENCY_EVENTS more distributions are created at
   PACE a second; each one's latency is its arrival time minus its ledger event's timestamp
   (one machine, one clock): projection, polling, signing and the POST.

Goals (issue #19): at least 500 deliveries a second, p95 at most 1,000 ms. Last line:
`{"deliveries", "deliveries_per_second", "p50_ms", "p95_ms", ...}`.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from app.webhooks import Webhooks
from bench.api import drop_schema
from devtools import payout_story as story
from devtools.children import Children
from devtools.devchain import free_port
from projections.registry import open_projection
from projections.runner import Runner
from projections.store import views_datastore
from projections.webhooks import Webhooks as WebhooksProjection
from runtime.engines import database, open_ledger
from runtime.settings import Settings, child_environment

GOAL_PER_SECOND, GOAL_P95_MS = 500, 1_000
LATENCY_EVENTS, PACE = 200, 50  # events, and events a second, of the latency phase
TIMEOUT = 300.0  # a wait that fails the bench, never a measure

# --- the receiver: a bare ASGI app, run by `python -m uvicorn bench.webhooks:receiver` ---

_ARRIVALS: list[tuple[str, str, float]] = []  # (event id, event created_at, arrival time)

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


async def receiver(scope: Scope, receive: Receive, send: Send) -> None:
    """POST: stamp and answer 200; GET: every arrival so far, as JSON."""
    if scope["type"] != "http":
        return
    if scope["method"] == "GET":
        body = json.dumps(_ARRIVALS).encode()
    else:
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        arrived = time.time()
        event = json.loads(b"".join(chunks))
        _ARRIVALS.append((event["id"], event["created_at"], arrived))
        body = b"ok"
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


def _arrivals(url: str) -> list[tuple[str, str, float]]:
    with urllib.request.urlopen(url, timeout=10) as response:
        found: list[tuple[str, str, float]] = [tuple(a) for a in json.loads(response.read())]
        return found


def _until(what: str, probe: Callable[[], bool], processes: Children) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not probe():
        dead = [n for n, p in processes.processes.items() if p.poll() is not None]
        if dead:
            raise RuntimeError(f"{', '.join(dead)} exited while waiting for {what}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.05)


# --- the bench ---

def run(*, holders: int | None = None, log: Callable[[str], None] = print) -> dict[str, Any]:
    count = holders or 2_000
    settings = Settings.from_env()
    schema = f"bench_webhooks_{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory(prefix="mp-bench-webhooks-") as tmp, \
            database(settings, Path(tmp) / "pg") as url:
        try:
            return _measure(url, schema, count, Path(tmp), log)
        finally:
            drop_schema(url, schema)


def _measure(url: str, schema: str, count: int, tmp: Path,
             log: Callable[[str], None]) -> dict[str, Any]:
    port = free_port()
    hooks = f"http://127.0.0.1:{port}/hooks"
    env = child_environment(DATABASE_URL=url, MASS_PAYOUT_SCHEMA=schema,
                            MASS_PAYOUT_WEBHOOK_ALLOW="127.0.0.1")
    children = Children(env)
    with (tmp / "receiver.log").open("wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "bench.webhooks:receiver", "--port", str(port),
             "--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level",
             "warning"], stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    ledger = open_ledger(url, schema)
    try:
        _until("the receiver", lambda: _answers(hooks), children)
        Webhooks(ledger, url, schema, ("127.0.0.1",)).create(
            url=hooks, event_types=["distribution.created"], description="bench",
            actor="bench")
        asset = story.import_asset(ledger)
        # 1. Throughput: the outbox holds `count` events before the deliverer starts.
        log(f"recording {count} distributions and projecting their webhook events")
        for n in range(count):
            ledger.create_distribution(asset_id=asset, idempotency_key=f"t-{n}",
                                       terms=story.sample_terms(n), actor="bench")
        views = views_datastore(url, schema)
        Runner(ledger, open_projection(views, WebhooksProjection), max_events=250_000,
               max_seconds=30).catch_up()
        views.close()
        log("starting `mass-payout webhooks deliver` and `mass-payout project`")
        children.spawn("deliverer", "webhooks", "deliver", log=tmp / "deliverer.log")
        _until(f"{count} deliveries", lambda: len(_arrivals(hooks)) >= count, children)
        first = _arrivals(hooks)[:count]
        span = max(a[2] for a in first) - min(a[2] for a in first)
        per_second = (count - 1) / span if span > 0 else float("inf")
        log(f"{count} deliveries in {span:.2f}s: {per_second:.0f}/s")
        # 2. Latency: events recorded at a steady pace while both processes run.
        children.spawn("projections", "project", log=tmp / "projections.log")
        ledger.create_distribution(asset_id=asset, idempotency_key="warm-up",
                                   terms=story.sample_terms(), actor="bench")
        _until("the projector", lambda: len(_arrivals(hooks)) >= count + 1, children)
        log(f"recording {LATENCY_EVENTS} more at {PACE}/s and timing each to its arrival")
        started = time.monotonic()
        for n in range(LATENCY_EVENTS):
            time.sleep(max(0.0, started + n / PACE - time.monotonic()))
            ledger.create_distribution(asset_id=asset, idempotency_key=f"l-{n}",
                                       terms=story.sample_terms(n), actor="bench")
        total = count + 1 + LATENCY_EVENTS
        _until("the paced deliveries", lambda: len(_arrivals(hooks)) >= total, children)
        arrivals = _arrivals(hooks)
        ids = [a[0] for a in arrivals]
        latencies = sorted((a[2] - datetime.fromisoformat(a[1]).timestamp()) * 1000
                           for a in arrivals[count + 1:])
    finally:
        children.stop_all()
        server.terminate()
        server.wait(timeout=10)
        ledger.close()
    p50 = statistics.median(latencies)
    p95 = latencies[max(0, round(0.95 * len(latencies)) - 1)]
    ok = per_second >= GOAL_PER_SECOND and p95 <= GOAL_P95_MS and len(set(ids)) == len(ids)
    log(f"latency p50 {p50:.0f} ms, p95 {p95:.0f} ms; goals >= {GOAL_PER_SECOND}/s,"
        f" p95 <= {GOAL_P95_MS} ms: {'met' if ok else 'MISSED'}")
    return {"deliveries": count, "deliveries_per_second": round(per_second, 1),
            "p50_ms": round(p50, 1), "p95_ms": round(p95, 1),
            "latency_events": len(latencies), "duplicates": len(ids) - len(set(ids)),
            "goal_per_second": GOAL_PER_SECOND, "goal_p95_ms": GOAL_P95_MS, "ok": ok}


def _answers(url: str) -> bool:
    try:
        _arrivals(url)
    except OSError:
        return False
    return True
