"""The long-running processes: RQ workers, the ingestor, the supervisor and the scheduler.

Each is built by `runtime.bootstrap` from the settings it is given and only loops here. Each
stops within seconds of SIGTERM (RQ's worker handles it itself). Transient chain, database
or queue trouble is waited out with backoff; a reorg below the cursor stops the
ingestor loudly (exit code 3), by design.
"""

from __future__ import annotations

import collections
import logging
import signal
import threading

import psycopg
from eventsourcing.persistence import PersistenceError
from prometheus_client import CollectorRegistry, Counter, start_http_server
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from redis.exceptions import RedisError

from app import scheduler as scheduling
from app.ingest import ingest_vaults
from app.scheduler import utcnow
from chain.gateway import TransientChainError
from runtime.bootstrap import build_ingestor, build_scheduler, build_supervisor, build_worker
from runtime.settings import Settings

log = logging.getLogger("mass_payout")


class ProcessMetrics:
    """A long-running process's own Prometheus series (MASS_PAYOUT_METRICS_PORT: served by
    prometheus_client on that port, `/metrics`): CPU, memory, GC, and what the loop did."""

    def __init__(self, settings: Settings, process: str) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        self.steps = Counter("mass_payout_process_steps", "Loop steps, by process and outcome",
                             ["process", "outcome"], registry=self.registry)
        self.facts = Counter("mass_payout_ingested_facts", "Chain facts the ingestor recorded",
                             registry=self.registry)
        self.process = process
        if settings.metrics_port:
            start_http_server(settings.metrics_port, registry=self.registry)

    def step(self, outcome: str = "ok") -> None:
        self.steps.labels(self.process, outcome).inc()

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
    ProcessMetrics(settings, "worker")  # jobs by outcome: the API's /metrics (RQ registries)
    process = build_worker(settings)
    try:
        process.worker.work(burst=burst, with_scheduler=True, logging_level="WARNING")
    finally:
        process.services.close()


def run_ingestor(settings: Settings, *, confirmations: int, interval: float,
                 once: bool) -> None:
    metrics = ProcessMetrics(settings, "ingestor")
    services = build_ingestor(settings)
    stop = stop_on_sigterm()
    delay = interval
    try:
        while not stop.is_set():
            try:
                facts = ingest_vaults(services.ledger, services.gateway,
                                      confirmations=confirmations, source=services.log_source)
                delay = interval
                metrics.step()
                metrics.facts.inc(facts)
                if facts:
                    log.info("ingested %d facts", facts)
            except TRANSIENT as err:
                metrics.step("transient")
                delay = min(max(delay, 0.5) * 2, 30.0)
                log.warning("%s, retrying in %.0fs: %s", _what(err), delay, err)
            if once:
                return
            stop.wait(delay)
    finally:
        services.close()


def run_supervisor(settings: Settings, *, interval: float, grace_seconds: float,
                   once: bool) -> None:
    metrics = ProcessMetrics(settings, "supervisor")
    services, supervisor = build_supervisor(settings, grace_seconds=grace_seconds)
    stop = stop_on_sigterm()
    try:
        while not stop.is_set():
            try:
                counts = supervisor.run_once()
                metrics.step()
                if any(counts.values()):
                    log.info("supervisor: %s", counts)
            except TRANSIENT as err:
                metrics.step("transient")
                log.warning("%s: %s", _what(err), err)
            if once:
                return
            stop.wait(interval)
    finally:
        services.close()


def run_scheduler(settings: Settings, *, interval: float, once: bool) -> None:
    """Stops cleanly on SIGTERM; a kill -9 releases the leader lock with the connection."""
    metrics = ProcessMetrics(settings, "scheduler")
    process = build_scheduler(settings)
    stop = stop_on_sigterm()
    try:
        if once:
            if process.lock.hold():
                log.info("scheduler tick: %s", dict(process.scheduler.tick(utcnow())))
            return
        scheduler, board = process.scheduler, process.board

        def ticked(done: collections.Counter[str]) -> None:
            metrics.step()
            board.record(at=utcnow(), done=done, failing=scheduler.last_errors)

        delay = interval
        while not stop.is_set():
            try:
                scheduling.run(scheduler, process.lock, stop, interval=interval,
                               on_tick=ticked)
            except TRANSIENT as err:  # the lead is released; it is taken again when back
                metrics.step("transient")
                delay = min(max(delay, 0.5) * 2, 30.0)
                log.warning("%s, retrying in %.0fs: %s", _what(err), delay, err)
                stop.wait(delay)
            else:
                delay = interval
    except KeyboardInterrupt:
        stop.set()
    finally:
        process.close()
