"""`mass-payout bench api`: the REST API under load, and projection catch-up speed.

1. Catch-up: a distribution of `holders` (100k) is recorded, executed with failures and
   retries; the per-holder read model is then rebuilt from zero (rows per second).
2. Load: wrk drives each read route below (authenticated, read models in Postgres) with 50
   connections for 10 s on loopback, one after the other on the same server; then the same
   load on a bare Litestar endpoint, each run after a discarded 2 s warm-up. Each server is
   one uvicorn process with the same settings (uvloop, httptools, no access log); wrk is a
   separate C process. Besides the big distribution, `LISTED` small ones are recorded, so a
   page of the list is full.

The top-level rps/p50/p99/ratio are getDistribution's (as before); `routes` has each route's.
The goal (issue #5): every route at least 0.4 of the bare rps, p99 at most 50 ms.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

from api.keys import Role, create_key
from devtools import payout_story as story
from projections.rebuild import rebuild
from projections.registry import PROJECTIONS, open_all
from projections.runner import Runner
from projections.store import views_datastore, views_schema
from runtime.engines import database, open_ledger
from runtime.settings import Settings, child_environment

CONNECTIONS, SECONDS, WARMUP = 50, 10, 2  # each measured run follows a discarded warm-up
LISTED, LISTED_HOLDERS = 40, 20  # small distributions besides the big one
# operationId -> path (`{did}`: the big distribution), in the order they are loaded.
ROUTES = {"getDistribution": "/distributions/{did}",
          "listDistributions": "/distributions?limit=20",
          # every batch of the 100k-holder distribution in one page (~240), as measured
          # before the route paged: the heaviest body an operator can ask for
          "listBatches": "/distributions/{did}/batches?limit=500"}
# Both servers run exactly so (and so does `mass-payout serve`): the ratio is the API's cost.
UVICORN = ["--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level",
           "warning"]


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(url: str, headers: dict[str, str], seconds: int = SECONDS) -> dict[str, float]:
    command = ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency", url]
    for name, value in headers.items():
        command[1:1] = ["-H", f"{name}: {value}"]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    latency = dict(re.findall(r"\s(50|99)%\s+([\d.]+(?:us|ms|s))", out))
    parsed = {k: re.fullmatch(r"([\d.]+)(us|ms|s)", v) for k, v in latency.items()}
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise RuntimeError(f"{errors.group(1)} failed responses during the load:\n{out}")
    return {"rps": rps, "p50_ms": _ms(*parsed["50"].groups()),  # type: ignore[union-attr]
            "p99_ms": _ms(*parsed["99"].groups())}  # type: ignore[union-attr]


def serve(app: str, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", app, "--port", str(port),
         "--host", "127.0.0.1", *UVICORN],
        env=child_environment(**env))
    deadline = time.monotonic() + 120  # imports take seconds, more on a loaded machine
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
            return process
        except OSError as err:
            if getattr(err, "code", None) == 404:  # the bare app has no /health: it is up
                return process
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"{app} did not start on port {port}")


def run(*, holders: int | None = None, log: Callable[[str], None] = print) -> dict[str, Any]:
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed (apt-get install -y wrk): the load generator"
                           " must not be the bottleneck, so this bench does not fall back")
    count = holders or 100_000
    settings = Settings.from_env()
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory(prefix="mp-bench-api-") as tmp, \
            database(settings, Path(tmp) / "pg") as url:
        try:
            return _measure(url, schema, count, log)
        finally:
            drop_schema(url, schema)


def _measure(url: str, schema: str, count: int, log: Callable[[str], None]) -> dict[str, Any]:
    ledger = open_ledger(url, schema)
    log(f"recording a {count}-holder distribution with failures and retries")
    asset = story.import_asset(ledger)
    did = story.snapshotted(ledger, asset, count)
    story.execute(ledger, did)
    views = views_datastore(url, schema)
    for projection in open_all(views):
        Runner(ledger, projection, max_events=250_000, max_seconds=10).catch_up()
    log("rebuilding the per-holder read model from zero")
    rebuilt = rebuild(ledger, views, PROJECTIONS["distribution_holders"])
    rows_per_second = count / rebuilt.seconds
    log(f"rebuilt {count} holder rows in {rebuilt.seconds:.2f}s")
    log(f"recording {LISTED} more distributions of {LISTED_HOLDERS} holders")
    for n in range(LISTED):
        story.snapshotted(ledger, asset, LISTED_HOLDERS, key=f"listed-{n}")
    for projection in open_all(views):
        Runner(ledger, projection).catch_up()
    batches = ledger.get_distribution(did).batch_count
    views.close()
    ledger.close()
    _, key = create_key(url, schema, Role.VIEWER)
    env = {"DATABASE_URL": url, "MASS_PAYOUT_SCHEMA": schema}
    api = serve("runtime.bootstrap:api_from_env", 8731, env)
    loads: dict[str, dict[str, float]] = {}
    try:
        expected = {"listDistributions": 20, "listBatches": batches}
        for name, path in ROUTES.items():
            target = f"http://127.0.0.1:8731{path.format(did=did)}"
            _check(target, key, expected.get(name))
            log(f"loading GET {path} ({name})")
            wrk(target, {"X-API-Key": key}, WARMUP)
            loads[name] = wrk(target, {"X-API-Key": key})
    finally:
        api.terminate()
        api.wait()
    bare = serve("api.app:create_bare_app", 8732, env)
    try:
        log("loading the bare endpoint")
        wrk("http://127.0.0.1:8732/bare", {}, WARMUP)
        yardstick = wrk("http://127.0.0.1:8732/bare", {})
    finally:
        bare.terminate()
        bare.wait()
    routes = {name: {"path": ROUTES[name], "rps": round(load["rps"]),
                     "p50_ms": round(load["p50_ms"], 2), "p99_ms": round(load["p99_ms"], 2),
                     "ratio": round(load["rps"] / yardstick["rps"], 3)}
              for name, load in loads.items()}
    ours = routes["getDistribution"]
    return {"rps": ours["rps"], "p50_ms": ours["p50_ms"], "p99_ms": ours["p99_ms"],
            "bare_rps": round(yardstick["rps"]), "ratio": ours["ratio"],
            "projection_rows_per_second": round(rows_per_second),
            "bare_p99_ms": round(yardstick["p99_ms"], 2), "routes": routes}




def drop_schema(url: str, schema: str) -> None:
    """A configured database keeps nothing of the run (an embedded one is deleted anyway)."""
    with psycopg.connect(url, autocommit=True) as conn:
        for name in (schema, views_schema(schema)):
            conn.execute(psycopg.sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                psycopg.sql.Identifier(name)))


def _check(url: str, key: str, items: int | None) -> None:
    """The route answers what the load will measure: 200, and a full page where it pages."""
    request = urllib.request.Request(url, headers={"X-API-Key": key})
    with urllib.request.urlopen(request, timeout=10) as response:
        body = json.loads(response.read())
    if items is not None and len(body["items"]) != items:
        raise RuntimeError(f"{url} answered {len(body['items'])} items, not {items}")
