"""The long-running processes: RQ workers, the ingestor, the supervisor and the scheduler.

Each is built by `runtime.bootstrap` from the settings it is given and only loops here. Each
stops within seconds of SIGTERM (RQ's worker handles it itself). Transient chain, database
or queue trouble is waited out with backoff; a reorg below the cursor stops the
ingestor loudly (exit code 3), by design.
"""

from __future__ import annotations

import logging
import signal
import threading

import psycopg
from eventsourcing.persistence import PersistenceError
from redis.exceptions import RedisError

from app import scheduler as scheduling
from app.ingest import ingest_vaults
from app.scheduler import utcnow
from chain.gateway import TransientChainError
from runtime.bootstrap import build_ingestor, build_scheduler, build_supervisor, build_worker
from runtime.settings import Settings

log = logging.getLogger("mass_payout")

# Waited out with backoff: the chain or the database (bounded by runtime.timeouts) is down.
TRANSIENT = (TransientChainError, PersistenceError, psycopg.OperationalError, RedisError)


def stop_on_sigterm() -> threading.Event:
    """Set on SIGTERM: loops wait on it instead of sleeping, so they stop within a step."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    return stop


def _what(err: Exception) -> str:
    if isinstance(err, TransientChainError):
        return "chain unreachable"
    return "queue unreachable" if isinstance(err, RedisError) else "database unreachable"


def run_worker(settings: Settings, *, burst: bool = False) -> None:
    process = build_worker(settings)
    try:
        process.worker.work(burst=burst, with_scheduler=True, logging_level="WARNING")
    finally:
        process.services.close()


def run_ingestor(settings: Settings, *, confirmations: int, interval: float,
                 once: bool) -> None:
    services = build_ingestor(settings)
    stop = stop_on_sigterm()
    delay = interval
    try:
        while not stop.is_set():
            try:
                facts = ingest_vaults(services.ledger, services.gateway,
                                      confirmations=confirmations)
                delay = interval
                if facts:
                    log.info("ingested %d facts", facts)
            except TRANSIENT as err:
                delay = min(max(delay, 0.5) * 2, 30.0)
                log.warning("%s, retrying in %.0fs: %s", _what(err), delay, err)
            if once:
                return
            stop.wait(delay)
    finally:
        services.close()


def run_supervisor(settings: Settings, *, interval: float, grace_seconds: float,
                   once: bool) -> None:
    services, supervisor = build_supervisor(settings, grace_seconds=grace_seconds)
    stop = stop_on_sigterm()
    try:
        while not stop.is_set():
            try:
                counts = supervisor.run_once()
                if any(counts.values()):
                    log.info("supervisor: %s", counts)
            except TRANSIENT as err:
                log.warning("%s: %s", _what(err), err)
            if once:
                return
            stop.wait(interval)
    finally:
        services.close()


def run_scheduler(settings: Settings, *, interval: float, once: bool) -> None:
    """Stops cleanly on SIGTERM; a kill -9 releases the leader lock with the connection."""
    process = build_scheduler(settings)
    stop = stop_on_sigterm()
    try:
        if once:
            if process.lock.hold():
                log.info("scheduler tick: %s", dict(process.scheduler.tick(utcnow())))
            return
        scheduler, board = process.scheduler, process.board
        delay = interval
        while not stop.is_set():
            try:
                scheduling.run(scheduler, process.lock, stop, interval=interval,
                               on_tick=lambda done: board.record(
                                   at=utcnow(), done=done, failing=scheduler.last_errors))
            except TRANSIENT as err:  # the lead is released; it is taken again when back
                delay = min(max(delay, 0.5) * 2, 30.0)
                log.warning("%s, retrying in %.0fs: %s", _what(err), delay, err)
                stop.wait(delay)
            else:
                delay = interval
    except KeyboardInterrupt:
        stop.set()
    finally:
        process.close()
