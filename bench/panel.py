"""`mass-payout bench panel`: the admin panel's pages on a big distribution, and how fast a
payment mined on chain reaches an operator's screen.

1. Pages: a distribution of `holders` (100k) is recorded with failures and retries and
   projected (as `bench api` does); `mass-payout serve`'s app runs in its own uvicorn process;
   a signed-in viewer session asks for the distribution page and a holders page
   (`HOLDERS_PAGE`) `REQUESTS` times each, one at a time, after a discarded warm-up. Each time
   is the loopback round trip from a client in this process: the server's time plus a
   fraction of a millisecond.
2. Live: a dividend of `LIVE_HOLDERS` holders in `LIVE_BATCHES` batches is paid on anvil by one
   worker (the demo's pipeline: ingestor, projector, supervisor, and the panel served by a
   real `mass-payout serve`), while Debian's chromium shows its page. A thread here notes
   when each block appears on the chain (polled every few ms); the page notes (a
   MutationObserver) when its progress bar's paid count changes. For each block that paid
   holders, the delay is from the block's appearance to the first screen state that counts
   them. Nothing reloads the page: the update comes over the SSE stream.

Goals (issue #14): p95 ≤ 150 ms per page; median ≤ 1,000 ms from chain to screen.
"""

from __future__ import annotations

import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from api.keys import Role, create_key
from bench.api import drop_schema, serve
from devtools import payout_story as story
from devtools import pipeline
from domain.planning import GasModel
from projections.registry import open_all
from projections.runner import Runner
from projections.store import views_datastore
from runtime.engines import database, open_ledger
from runtime.settings import Settings

REQUESTS, WARMUP = 200, 20
PORT, LIVE_PORT = 8741, 8742
HOLDERS_PAGE = "/panel/distributions/{did}/fragments/holders?hstatus=PAID"  # a full page
LIVE_HOLDERS, LIVE_BATCHES = 200, 20
CHROMIUM = "/usr/bin/chromium"

# Runs in the page: every change of the progress bar's paid count, with the wall clock.
OBSERVE = """() => {
  window.__seen = [];
  const note = () => {
    const bar = document.querySelector('#progress');
    const paid = bar ? Number(bar.dataset.paid) : -1;
    const last = window.__seen.length ? window.__seen[window.__seen.length - 1][1] : -2;
    if (paid !== last) window.__seen.push([Date.now(), paid]);
  };
  note();
  new MutationObserver(note).observe(document.body,
    {subtree: true, childList: true, attributes: true, attributeFilter: ['data-paid']});
}"""


def run(*, holders: int | None = None, log: Callable[[str], None] = print,
        **_: Any) -> dict[str, Any]:
    count = holders or 100_000
    pages = _pages(count, log)
    live = _live(log)
    return {"holders": count, **pages, **live,
            "ok": pages["page_p95_ms"] <= 150 and pages["holders_page_p95_ms"] <= 150
            and live["live_update_ms"] <= 1_000}


def _percentiles(samples: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(samples, n=100)
    return round(statistics.median(samples), 1), round(cuts[94], 1)


def _sign_in(base: str, key: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=30)
    answer = client.post("/panel/login", data={"key": key, "next": "/panel/"})
    if answer.status_code != 303:
        raise RuntimeError(f"could not sign in to the panel: {answer.status_code}")
    return client


def _timed(client: httpx.Client, path: str) -> list[float]:
    for _ in range(WARMUP):
        client.get(path).raise_for_status()
    out = []
    for _ in range(REQUESTS):
        started = time.perf_counter()
        answer = client.get(path)
        out.append((time.perf_counter() - started) * 1000)
        if answer.status_code != 200:
            raise RuntimeError(f"{path} answered {answer.status_code}")
    return out


def _pages(count: int, log: Callable[[str], None]) -> dict[str, Any]:
    settings = Settings.from_env()
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory(prefix="mp-bench-panel-") as tmp, \
            database(settings, Path(tmp) / "pg") as url:
        try:
            ledger = open_ledger(url, schema)
            log(f"recording a {count}-holder distribution with failures and retries")
            did = story.snapshotted(ledger, story.import_asset(ledger), count)
            story.execute(ledger, did)
            views = views_datastore(url, schema)
            for projection in open_all(views):
                Runner(ledger, projection, max_events=250_000, max_seconds=10).catch_up()
            views.close()
            ledger.close()
            _, key = create_key(url, schema, Role.VIEWER, principal="bench")
            api = serve("runtime.bootstrap:api_from_env", PORT,
                        {"DATABASE_URL": url, "MASS_PAYOUT_SCHEMA": schema})
            try:
                client = _sign_in(f"http://127.0.0.1:{PORT}", key)
                log(f"timing {REQUESTS} requests of the distribution page")
                page = _timed(client, f"/panel/distributions/{did}")
                log(f"timing {REQUESTS} requests of a holders page")
                holders_page = _timed(client, HOLDERS_PAGE.format(did=did))
            finally:
                api.terminate()
                api.wait()
        finally:
            drop_schema(url, schema)
    page_p50, page_p95 = _percentiles(page)
    holders_p50, holders_p95 = _percentiles(holders_page)
    return {"page_p50_ms": page_p50, "page_p95_ms": page_p95,
            "holders_page_p50_ms": holders_p50, "holders_page_p95_ms": holders_p95}


class BlockClock:
    """When each block first appeared, polled every `every` seconds in a thread."""

    def __init__(self, w3: Any, every: float = 0.003) -> None:
        self.w3, self.every = w3, every
        self.seen: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def __enter__(self) -> BlockClock:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _poll(self) -> None:
        last = self.w3.eth.block_number
        while not self._stop.is_set():
            head = self.w3.eth.block_number
            now = time.time()
            for number in range(last + 1, head + 1):
                self.seen[number] = now
            last = max(last, head)
            time.sleep(self.every)


def _paid_per_block(run: pipeline.PipelineRun, first: int) -> list[tuple[int, int]]:
    """(block, holders paid in it) for the run's vault, in block order."""
    logs = run.net.vault.events.Paid().get_logs(from_block=first)
    per_block: dict[int, int] = {}
    for entry in logs:
        per_block[entry["blockNumber"]] = per_block.get(entry["blockNumber"], 0) \
            + bin(entry["args"]["paidBits"]).count("1")
    return sorted(per_block.items())


def _live(log: Callable[[str], None]) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="mp-bench-panel-live-") as tmp, \
            pipeline.engines(Path(tmp)) as env:
        model = GasModel(max_holders_per_batch=LIVE_HOLDERS // LIVE_BATCHES)
        log(f"preparing a {LIVE_HOLDERS}-holder dividend in {LIVE_BATCHES} batches on anvil")
        run = pipeline.prepare(env, holders=LIVE_HOLDERS, blocked=0, gas_model=model,
                               observe=lambda _: None)
        try:
            run.children.spawn("api", "serve", "--port", str(LIVE_PORT))
            pipeline.start_processes(run, workers=1)
            _, key = create_key(env["DATABASE_URL"], pipeline.SCHEMA, Role.VIEWER,
                                principal="bench-viewer")
            base = f"http://127.0.0.1:{LIVE_PORT}"
            _wait_up(base)
            with sync_playwright() as driver:
                browser = driver.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                 args=["--no-sandbox"])
                page = browser.new_page()
                page.goto(f"{base}/panel/login?next=/panel/distributions/{run.distribution_id}")
                page.fill("#key", key)
                page.click("button[type=submit]")
                page.wait_for_selector("#progress")
                page.evaluate(OBSERVE)
                w3 = run.services.gateway.w3
                first = w3.eth.block_number + 1
                with BlockClock(w3) as clock:
                    log("paying while chromium watches the distribution page")
                    pipeline.pay(run, observe=lambda _: None)
                    page.wait_for_function(  # every holder paid, on screen
                        f"() => window.__seen.some(s => s[1] >= {LIVE_HOLDERS})",
                        timeout=30_000)
                seen: list[list[float]] = page.evaluate("window.__seen")
                browser.close()
            blocks = _paid_per_block(run, first)
        finally:
            run.children.stop_all()
            run.services.close()
    delays, paid = [], 0
    for number, count in blocks:
        paid += count
        shown = next((at for at, value in seen if value >= paid), None)
        if shown is not None and number in clock.seen:
            delays.append(shown - clock.seen[number] * 1000)
    if not delays:
        raise RuntimeError("the page never showed a payment")
    return {"live_update_ms": round(statistics.median(delays)),
            "live_update_max_ms": round(max(delays)), "live_samples": len(delays)}


def _wait_up(base: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/health/live", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("the panel did not start")
