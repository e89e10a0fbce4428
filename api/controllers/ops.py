"""Operations: health (Postgres, Redis, chain, projection lag), liveness and readiness, the
scheduler's status and Prometheus metrics."""

from __future__ import annotations

import contextlib
from typing import Any
from uuid import UUID

import anyio
from litestar import Controller, MediaType, Request, Response, get
from litestar.openapi.datastructures import ResponseSpec
from psycopg import sql
from psycopg.errors import UndefinedTable

from api import schemas
from api.keys import READ
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
    async def metrics(self, request: Request[Any, Any, Any]) -> str:
        """Prometheus text format."""
        reads = request.app.state.reads
        out = ["# TYPE mass_payout_batches gauge"]
        batches = await reads.all(sql.SQL("SELECT status, count(*) AS n FROM {} GROUP BY 1")
                                  .format(reads.table("batches")))
        out.extend(f'mass_payout_batches{{status="{r["status"]}"}} {r["n"]}' for r in batches)
        out.append("# TYPE mass_payout_payments gauge")
        for r in await reads.all(sql.SQL(
                "SELECT status, count(*) AS n, coalesce(sum(net), 0) AS amount FROM {}"
                " GROUP BY 1").format(reads.table("distribution_holders"))):
            out.append(f'mass_payout_payments{{status="{r["status"]}"}} {r["n"]}')
            out.append(f'mass_payout_payments_net_units{{status="{r["status"]}"}} {r["amount"]}')
        head = await reads.head()
        out.append("# TYPE mass_payout_ledger_position gauge")
        out.append(f"mass_payout_ledger_position {head}")
        out.append("# TYPE mass_payout_projection_lag_events gauge")
        for name, position in (await reads.positions()).items():
            out.append(f'mass_payout_projection_lag_events{{projection="{name}"}} '
                       f"{head - position}")
        out.append("# TYPE mass_payout_ingestion_lag_blocks gauge")
        for vault, blocks in (await request.app.state.ingestion_lag()).items():
            out.append(f'mass_payout_ingestion_lag_blocks{{vault="{vault}"}} {blocks}')
        # Logs ingestion could not decode or apply: recorded on the cursor, never a stall;
        # each one is for an operator to look at (the ChainCursor's LogUnreadable events).
        out.append("# TYPE mass_payout_ingestion_unreadable_logs gauge")
        with contextlib.suppress(UndefinedTable):  # the projector has not created it yet
            out.extend(f'mass_payout_ingestion_unreadable_logs{{contract="{r["contract"]}"}}'
                       f' {r["unreadable"]}' for r in await reads.all(sql.SQL(
                           "SELECT contract, unreadable FROM {}").format(
                           reads.table("ingestion_cursors"))))
        status = await scheduler_status(reads)
        if status.last_tick_at is not None:
            out.append("# TYPE mass_payout_scheduler_last_tick_timestamp_seconds gauge")
            out.append("mass_payout_scheduler_last_tick_timestamp_seconds"
                       f" {status.last_tick_at.timestamp():.3f}")
        out.append("# TYPE mass_payout_scheduler_failing_items gauge")
        out.append(f"mass_payout_scheduler_failing_items {len(status.failing)}")
        return "\n".join(out) + "\n"


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
