"""The long-running processes: RQ workers, the ingestor and the supervisor.

Each builds its own wiring from the environment. Transient chain trouble is waited out with
backoff; a reorg below the cursor stops the ingestor loudly (exit code 3), by design.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from datetime import timedelta

from rq.worker import SimpleWorker

from chain import jobs
from chain.executor import BatchExecutor
from chain.gateway import TransientChainError
from chain.ingest import VaultIngestor
from chain.logs import JsonRpcLogSource
from chain.supervisor import Supervisor
from domain.failures import RetryPolicy
from domain.planning import GasModel
from mass_payout import scheduler as scheduling
from mass_payout.automation import Automation
from mass_payout.scheduler import LeaderLock, Scheduler, utcnow
from mass_payout.scheduler_status import StatusBoard
from mass_payout.settings import Settings
from mass_payout.wiring import Services, assets_with_vaults, build

log = logging.getLogger("mass_payout")


def run_worker(*, burst: bool = False) -> None:
    """SimpleWorker runs jobs in this process: the wiring (pool, signer) is built once."""
    services = build_when_reachable(Settings.from_env())
    executor = BatchExecutor(services.ledger, services.gateway, services.signer, GasModel(),
                             retry_policy=retry_policy_from_env())
    jobs.install(executor, services.queue)
    worker = SimpleWorker([services.queue], connection=services.redis)
    try:
        worker.work(burst=burst, with_scheduler=True, logging_level="WARNING")
    finally:
        services.close()


def build_when_reachable(settings: Settings, max_delay: float = 30.0) -> Services:
    """A process started while the node is down waits for it (with backoff) instead of
    exiting: starting order between the node and our processes must not matter."""
    delay = 1.0
    while True:
        try:
            return build(settings)
        except TransientChainError as err:
            log.warning("chain unreachable at start, retrying in %.0fs: %s", delay, err)
            time.sleep(delay)
            delay = min(delay * 2, max_delay)


def retry_policy_from_env() -> RetryPolicy:
    """MASS_PAYOUT_MAX_ATTEMPTS (default 3) bounds automatic retries of transient faults."""
    return RetryPolicy(max_attempts=int(os.environ.get("MASS_PAYOUT_MAX_ATTEMPTS", "3")))


def ingest_all(*, confirmations: int, from_block: int = 0) -> int:
    services = build_when_reachable(Settings.from_env())
    try:
        return ingest_with(services, confirmations=confirmations, from_block=from_block)
    finally:
        services.close()


def ingest_with(services: Services, *, confirmations: int, from_block: int = 0) -> int:
    source = JsonRpcLogSource(services.gateway.w3)
    total = 0
    for asset in assets_with_vaults(services.ledger):
        total += VaultIngestor(
            services.ledger, source, services.gateway.w3, services.gateway.chain_id, asset.id,
            str(asset.vault_address), asset.payment_token, from_block=from_block,
            confirmations=confirmations, security_token=asset.token_address).catch_up()
    return total


def run_ingestor(*, confirmations: int, interval: float, once: bool) -> None:
    services = build_when_reachable(Settings.from_env())
    delay = interval
    try:
        while True:
            try:
                facts = ingest_with(services, confirmations=confirmations)
                delay = interval
                if facts:
                    log.info("ingested %d facts", facts)
            except TransientChainError as err:
                delay = min(delay * 2, 30.0)
                log.warning("chain unreachable, retrying in %.0fs: %s", delay, err)
            if once:
                return
            time.sleep(delay)
    finally:
        services.close()


def run_supervisor(*, interval: float, grace_seconds: float, once: bool) -> None:
    services = build_when_reachable(Settings.from_env())
    supervisor = Supervisor(services.ledger, services.gateway, services.queue,
                            grace=timedelta(seconds=grace_seconds))
    try:
        while True:
            try:
                counts = supervisor.run_once()
                if any(counts.values()):
                    log.info("supervisor: %s", counts)
            except TransientChainError as err:
                log.warning("chain unreachable: %s", err)
            if once:
                return
            time.sleep(interval)
    finally:
        services.close()


def run_scheduler(*, interval: float, once: bool) -> None:
    """Stops cleanly on SIGTERM; a kill -9 releases the leader lock with the connection."""
    settings = Settings.from_env()
    services = build_when_reachable(settings)
    automation = Automation(services.ledger, services.gateway, services.signer, services.queue,
                            GasModel())
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    lock = LeaderLock(str(settings.database_url), f"scheduler:{settings.schema}")
    board = StatusBoard(str(settings.database_url), settings.schema)  # GET /scheduler
    try:
        if once:
            if lock.hold():
                log.info("scheduler tick: %s", dict(Scheduler(services.ledger, automation)
                                                     .tick(utcnow())))
            return
        scheduler = Scheduler(services.ledger, automation)
        scheduling.run(scheduler, lock, stop, interval=interval,
                       on_tick=lambda done: board.record(at=utcnow(), done=done,
                                                         failing=scheduler.last_errors))
    except KeyboardInterrupt:
        stop.set()
    finally:
        lock.release()
        board.close()
        services.close()
