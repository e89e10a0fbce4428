"""The long-running processes: RQ workers, the ingestor, the supervisor and the scheduler.

Each is built by `runtime.bootstrap` from the settings it is given and only loops here.
Transient chain trouble is waited out with backoff; a reorg below the cursor stops the
ingestor loudly (exit code 3), by design.
"""

from __future__ import annotations

import logging
import signal
import threading
import time

from app import scheduler as scheduling
from app.ingest import ingest_vaults
from app.scheduler import utcnow
from chain.gateway import TransientChainError
from runtime.bootstrap import build_ingestor, build_scheduler, build_supervisor, build_worker
from runtime.settings import Settings

log = logging.getLogger("mass_payout")


def run_worker(settings: Settings, *, burst: bool = False) -> None:
    process = build_worker(settings)
    try:
        process.worker.work(burst=burst, with_scheduler=True, logging_level="WARNING")
    finally:
        process.services.close()


def run_ingestor(settings: Settings, *, confirmations: int, interval: float,
                 once: bool) -> None:
    services = build_ingestor(settings)
    delay = interval
    try:
        while True:
            try:
                facts = ingest_vaults(services.ledger, services.gateway,
                                      confirmations=confirmations)
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


def run_supervisor(settings: Settings, *, interval: float, grace_seconds: float,
                   once: bool) -> None:
    services, supervisor = build_supervisor(settings, grace_seconds=grace_seconds)
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


def run_scheduler(settings: Settings, *, interval: float, once: bool) -> None:
    """Stops cleanly on SIGTERM; a kill -9 releases the leader lock with the connection."""
    process = build_scheduler(settings)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        if once:
            if process.lock.hold():
                log.info("scheduler tick: %s", dict(process.scheduler.tick(utcnow())))
            return
        scheduler, board = process.scheduler, process.board
        scheduling.run(scheduler, process.lock, stop, interval=interval,
                       on_tick=lambda done: board.record(at=utcnow(), done=done,
                                                         failing=scheduler.last_errors))
    except KeyboardInterrupt:
        stop.set()
    finally:
        process.close()
