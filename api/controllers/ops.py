"""Operations: health (Postgres, Redis, chain, projection lag), liveness and readiness, the
scheduler's status and Prometheus metrics (api.observability)."""

from __future__ import annotations

import contextlib
from typing import Any
from uuid import UUID

import anyio
from anyio import to_thread
from litestar import Controller, MediaType, Request, Response, get
from litestar.openapi.datastructures import ResponseSpec
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.core import Metric
from psycopg import sql
from psycopg.errors import UndefinedTable
from rq import Queue

from api import schemas
from api.controllers.audit import latest_audit_runs
from api.keys import READ
from api.observability import gauge, single
from api.problems import problem
from api.reads import ReadModels
from app.scheduler_status import ROW, TABLE

LAG_UNHEALTHY = 10_000
PROBE_SECONDS = 3.0  # per dependency: a silent one is "down", not a hung health check


class OpsController(Controller):
    tags = ["operations"]  # noqa: RUF012  # Litestar declares it a list

    @get("/health", operation_id="health", security=[{}], responses={
        503: ResponseSpec(schemas.Health, description="A dependency is down, or a read model"
                          " lags the ledger by more than LAG_UNHEALTHY events")})
    async def health(self, request: Request[Any, Any, Any]) -> Response[schemas.Health]:
        """Public: 200 when Postgres answers and the read models are close to the ledger."""
        checks, lag = await _check(request, with_lag=True)
        healthy = checks["postgres"] == "ok" and all(v < LAG_UNHEALTHY for v in lag.values())
        status = "ok" if healthy else "degraded"
        return Response(schemas.Health(status, checks, lag), status_code=200 if healthy else 503)

    @get("/health/live", operation_id="healthLive", security=[{}])
    async def live(self) -> schemas.Health:
        """Public: 200 while the process serves requests. Touches nothing, so an engine's
        outage never gets a healthy API restarted (that is what `/health/ready` tells)."""
        return schemas.Health("ok", {}, {})

    @get("/health/ready", operation_id="healthReady", security=[{}], opt={"problems": [503]})
    async def ready(self, request: Request[Any, Any, Any]) -> Response[Any]:
        """Public: 200 when PostgreSQL and, where configured, Redis and the chain answer
        (each within PROBE_SECONDS); otherwise a 503 problem naming what is down. Projection
        lag is not part of it: a read that needs a position waits for it or answers 503."""
        checks, _ = await _check(request, with_lag=False)
        down = {name: state for name, state in checks.items() if state != "ok"}
        if not down:
            return Response(schemas.Health("ok", checks, {}))
        return problem(503, "not-ready", "Service Unavailable",
                       f"unavailable: {', '.join(sorted(down))}", request,
                       {"Retry-After": "5"}, checks=checks)

    @get("/scheduler", opt={"roles": READ}, operation_id="getSchedulerStatus")
    async def scheduler(self, request: Request[Any, Any, Any]) -> schemas.SchedulerStatus:
        """What the leading scheduler last did, and which schedules or distributions it
        cannot move forward right now, with the error (it retries them every tick)."""
        return await scheduler_status(request.app.state.reads)

    @get("/metrics", opt={"roles": READ}, operation_id="metrics", media_type=MediaType.TEXT)
    async def metrics(self, request: Request[Any, Any, Any]) -> Response[bytes]:
        """Prometheus text format (prometheus_client): the read models', the ingestion's, the
        scheduler's and the job queue's figures, request latency per route, and this API
        process's own (CPU, memory, GC)."""
        families = await scrape(request)
        body = request.app.state.observability.exposition(*families)
        return Response(body, media_type=CONTENT_TYPE_LATEST)


async def scrape(request: Request[Any, Any, Any]) -> list[Metric]:
    """What the read models, the ingestion cursors, the scheduler and the queue say now."""
    reads = request.app.state.reads
    batches = await reads.all(sql.SQL("SELECT status, count(*) AS n FROM {} GROUP BY 1")
                              .format(reads.table("batches")))
    payments = await reads.all(sql.SQL(
        "SELECT status, count(*) AS n, coalesce(sum(net), 0) AS amount FROM {}"
        " GROUP BY 1").format(reads.table("distribution_holders")))
    head = await reads.head()
    out: list[Metric] = [
        gauge("mass_payout_batches", "Batches by status (read model)", ["status"],
              (((r["status"],), r["n"]) for r in batches)),
        gauge("mass_payout_payments", "Holder payments by status (read model)", ["status"],
              (((r["status"],), r["n"]) for r in payments)),
        gauge("mass_payout_payments_net_units", "Net amount by payment status, in the"
              " payment token's smallest units", ["status"],
              (((r["status"],), r["amount"]) for r in payments)),
        single("mass_payout_ledger_position", "The ledger's last notification id", head),
        gauge("mass_payout_projection_lag_events", "Events a read model is behind the ledger",
              ["projection"], (((name,), head - position)
                               for name, position in (await reads.positions()).items())),
        gauge("mass_payout_ingestion_lag_blocks", "Blocks a vault's ingestion cursor is"
              " behind the chain head", ["vault"],
              (((vault,), blocks)
               for vault, blocks in (await request.app.state.ingestion_lag()).items())),
    ]
    # Logs ingestion could not decode or apply: recorded on the cursor, never a stall;
    # each one is for an operator to look at (the ChainCursor's LogUnreadable events).
    unreadable: list[dict[str, Any]] = []
    with contextlib.suppress(UndefinedTable):  # the projector has not created it yet
        unreadable = await reads.all(sql.SQL("SELECT contract, unreadable FROM {}").format(
            reads.table("ingestion_cursors")))
    out.append(gauge("mass_payout_ingestion_unreadable_logs", "Logs ingestion could not"
                     " decode or apply, per contract", ["contract"],
                     (((r["contract"],), r["unreadable"]) for r in unreadable)))
    status = await scheduler_status(reads)
    if status.last_tick_at is not None:
        out.append(single("mass_payout_scheduler_last_tick_timestamp_seconds",
                          "When the leading scheduler last ticked",
                          status.last_tick_at.timestamp()))
    out.append(single("mass_payout_scheduler_failing_items", "Schedules and distributions"
                      " the scheduler cannot move forward", len(status.failing)))
    runs = await latest_audit_runs(reads)  # the scheduler's `audit verify` runs
    out.append(gauge("mass_payout_audit_mismatches", "Distributions the latest scheduled"
                     " audit (per trigger) found not reconciling", ["trigger"],
                     (((r["trigger"],), r["mismatches"]) for r in runs)))
    out.append(gauge("mass_payout_audit_last_run_timestamp_seconds", "When the latest"
                     " scheduled audit (per trigger) was recorded", ["trigger"],
                     (((r["trigger"],), r["recorded_at"].timestamp()) for r in runs)))
    queue = request.app.state.queue
    if queue is not None:
        out.extend(await _queue_families(queue))
    return out


# RQ's registries a job sits in after it is taken: running, waiting for a time or for
# another job, and done (finished ones for their result TTL, failed ones until deleted).
_RUNNING = ("started", "scheduled", "deferred")
_OUTCOMES = ("finished", "failed", "canceled")


async def _queue_families(queue: Queue) -> list[Metric]:
    """The job queue's depth and its jobs by state and outcome; nothing when Redis is silent
    (the readiness probe says so)."""
    def count() -> dict[str, int]:
        return {"queued": queue.count,
                **{name: getattr(queue, f"{name}_job_registry").count
                   for name in (*_RUNNING, *_OUTCOMES)}}
    try:
        with anyio.fail_after(PROBE_SECONDS):
            counts = await to_thread.run_sync(count, abandon_on_cancel=True)
    except Exception:  # noqa: BLE001  # a scrape never fails on the queue; /health/ready
        return [single("mass_payout_queue_up", "1 when Redis answered this scrape", 0)]
    return [
        single("mass_payout_queue_up", "1 when Redis answered this scrape", 1),
        single("mass_payout_queue_depth", "Payout jobs waiting for a worker", counts["queued"]),
        gauge("mass_payout_queue_jobs", "Payout jobs taken, by RQ registry", ["state"],
              (((name,), counts[name]) for name in _RUNNING)),
        gauge("mass_payout_jobs", "Payout jobs RQ still keeps, by outcome", ["outcome"],
              (((name,), counts[name]) for name in _OUTCOMES)),
    ]


async def _check(request: Request[Any, Any, Any], *, with_lag: bool
                 ) -> tuple[dict[str, str], dict[str, int]]:
    """Every dependency's state ("ok" or "down: <error>"), each bounded by PROBE_SECONDS,
    and (with_lag) each read model's distance from the ledger."""
    state = request.app.state
    checks: dict[str, str] = {}
    lag: dict[str, int] = {}
    try:
        with anyio.fail_after(PROBE_SECONDS):
            head = await state.reads.head()
            if with_lag:
                lag = {name: head - pos for name, pos in (await state.reads.positions()).items()}
        checks["postgres"] = "ok"
    except Exception as err:  # noqa: BLE001  # reported, not raised: this is the probe
        checks["postgres"] = f"down: {type(err).__name__}"
    for name, probe in state.probes.items():
        try:
            with anyio.fail_after(PROBE_SECONDS):
                checks[name] = await probe()
        except Exception as err:  # noqa: BLE001
            checks[name] = f"down: {type(err).__name__}"
    return checks, lag


async def scheduler_status(reads: ReadModels) -> schemas.SchedulerStatus:
    """The scheduler's row (app.scheduler_status); none yet until it first ticks."""
    try:
        row = await reads.one(sql.SQL(
            "SELECT last_tick_at, ticks, errors_total, failing FROM {} WHERE name = %s").format(
            sql.Identifier(reads.schema, TABLE)), (ROW,))
    except UndefinedTable:
        row = None
    if row is None:
        return schemas.SchedulerStatus(None, 0, 0, [])
    return schemas.SchedulerStatus(
        row["last_tick_at"], row["ticks"], row["errors_total"],
        [schemas.FailingItem(UUID(k), v) for k, v in row["failing"].items()])
