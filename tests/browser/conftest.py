"""The admin panel in a real browser: Debian's chromium, driven by Playwright, against a real
`mass-payout serve` and the processes a payout needs, on anvil.

One server for the whole module (session scope): starting anvil, seven processes and a browser
costs seconds each on two cores. The processes are the demo's (`devtools.pipeline`: workers,
ingestor, supervisor, projections) plus the scheduler (which freezes the snapshot and commits
the root of an approved distribution) and the API with the panel, all on the test session's
PostgreSQL (a fresh schema) and Redis (a free database: the workers take every job on the
queue's fixed name). The issuer's side is deployed as the demo deploys it
(`devtools.devnet`): the security token with a few dozen holders and the issuer's treasury,
the 6-decimal stablecoin with one holder on its blocklist, and the vault, funded.

No browser is ever downloaded: Playwright launches the system's chromium (`./dev test`
installs it with apt).
"""

from __future__ import annotations

import contextlib
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import httpx
import psycopg
import pytest
from playwright.sync_api import Browser, Page, sync_playwright
from psycopg import sql
from redis import Redis

from api.keys import Role, create_key
from devtools import pipeline
from devtools.children import Children
from devtools.devchain import Anvil, free_port
from devtools.devnet import DevNet, block, deploy_devnet, fund_vault, issue_shares
from domain.planning import GasModel
from projections.store import views_schema
from runtime.bootstrap import build_services
from runtime.settings import Settings, child_environment
from tests.test_compose_topology import free_redis_db, with_redis_db

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "docs" / "screenshots"
HOLDERS = 30
BLOCKED = 7  # the index of the holder the stablecoin blocklists
POOL = 3_000 * 10**6  # 3,000 USD (6 decimals), shared pro rata
T = TypeVar("T")


@dataclass
class PanelServer:
    """The running system, and what the tests need to drive it."""

    url: str  # the API's origin; the panel is under /panel
    api: httpx.Client  # the REST API of the same process
    keys: dict[str, str]  # alice (operator), bob (approver), carol (viewer)
    net: DevNet
    run: pipeline.PipelineRun
    logs: Path
    schema: str
    blocked: str = ""
    facts: dict[str, str] = field(default_factory=dict)

    def panel(self, path: str = "/") -> str:
        return f"{self.url}/panel{path}"

    def until(self, what: str, probe: Callable[[], T | None], timeout: float = 60) -> T:
        """Polls `probe`; fails at once, naming it, if one of the processes has exited."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            dead = {n: p.returncode for n, p in self.run.children.processes.items()
                    if p.poll() is not None}
            assert not dead, f"processes exited {dead} while waiting for {what}\n{self.tails()}"
            found = probe()
            if found is not None:
                return found
            time.sleep(0.2)
        raise AssertionError(f"timed out after {timeout}s waiting for {what}")

    def tails(self) -> str:
        return "\n".join(f"--- {log.name}\n" + "\n".join(log.read_text(
            errors="replace").splitlines()[-20:]) for log in sorted(self.logs.glob("*.log")))


def _drop(database_url: str, schema: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        for name in (schema, views_schema(schema)):
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                sql.Identifier(name)))


@pytest.fixture(scope="session")
def panel_server(database_url, redis_url, tmp_path_factory) -> Iterator[PanelServer]:
    schema = f"browser_{uuid.uuid4().hex[:10]}"
    redis = with_redis_db(redis_url, free_redis_db(redis_url))
    logs = tmp_path_factory.mktemp("browser-logs")
    with contextlib.ExitStack() as stack:
        anvil = Anvil(accounts=4)
        stack.enter_context(anvil)
        env = child_environment(DATABASE_URL=database_url, REDIS_URL=redis, RPC_URL=anvil.url,
                                MASS_PAYOUT_SCHEMA=schema, PYTHONUNBUFFERED="1")
        services = build_services(Settings.from_env(env))  # creates the fresh schema
        stack.callback(_drop, database_url, schema)
        stack.callback(services.close)
        children = Children(env)
        stack.callback(children.stop_all)
        # The API and the scheduler first: they start (imports, wiring) while the contracts
        # deploy.
        port = free_port()
        children.spawn("api", "serve", "--host", "127.0.0.1", "--port", str(port),
                       log=logs / "api.log")
        children.spawn("scheduler", "scheduler", "--interval", "0.5", log=logs / "scheduler.log")
        # The issuer's side, as the demo deploys it.
        net = deploy_devnet(services.gateway.w3, holders=HOLDERS)
        issue_shares(net, [(net.treasury, 100_000)])  # the issuer's own treasury holds shares
        blocked = net.holders[BLOCKED]
        block(net, blocked)
        fund_vault(net, POOL)
        # The demo's process set: workers, ingestor, supervisor, projections.
        run = pipeline.PipelineRun(services, net, pipeline.NO_DISTRIBUTION, children,
                                   pipeline.NO_DISTRIBUTION, gas_model=GasModel())
        pipeline.start_processes(run, workers=1, log_dir=logs)
        api = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
        stack.callback(api.close)
        keys = {person: create_key(database_url, schema, role, principal=person)[1]
                for person, role in (("alice", Role.OPERATOR), ("bob", Role.APPROVER),
                                     ("carol", Role.VIEWER))}
        server = PanelServer(f"http://127.0.0.1:{port}", api, keys, net, run, logs, schema,
                             blocked)

        def ready() -> bool | None:
            try:
                return api.get("/health/ready").status_code == 200 or None
            except httpx.TransportError:  # not listening yet
                return None

        server.until("GET /health/ready", ready)
        try:
            yield server
        finally:
            run.children.stop_all()
            print(server.tails())  # shown by pytest when a test failed
            with Redis.from_url(redis) as client:
                client.flushdb()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    """Debian's chromium, headless; never a downloaded browser. Module-scoped: while
    Playwright's sync API is open its event loop counts as running on this thread, and a
    later test on the same xdist worker calling `asyncio.run` (the e-mail alerts) failed."""
    if shutil.which(CHROMIUM) is None:
        pytest.fail(f"{CHROMIUM} is missing: `./dev test` installs it (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=["--no-sandbox"])
        yield browser
        browser.close()


def screenshot(page: Page, name: str) -> Path:
    """Saved into docs/screenshots (the README shows them); overwritten each run."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
