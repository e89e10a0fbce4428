"""`create_app()`: the API's application factory.

The ledger (writes), the read-model pool (reads), the token reader (chain) and the RQ queue
(execution) are built by the caller and handed in (`runtime.bootstrap.build_api` in
production), so tests and production assemble the same app. `rate_limit_per_minute` (0: none)
limits requests per API key, or per client address without one (`api.rate_limits`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from litestar import Litestar, get
from litestar.datastructures import State
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from litestar.template.config import TemplateConfig
from litestar.types import ControllerRouterHandler
from rq import Queue

from api.auth import HEADER, guard
from api.controllers.assets import AssetController
from api.controllers.audit import AuditController
from api.controllers.claims import ClaimController
from api.controllers.distributions import DistributionController
from api.controllers.holders import HolderController
from api.controllers.ops import OpsController
from api.controllers.reports import ReportController
from api.controllers.schedules import ScheduleController
from api.controllers.treasury import TreasuryController
from api.controllers.vault import VaultController
from api.controllers.webhooks import WebhookController
from api.docs import OfflineDocs, document_strict_bodies
from api.keys import migration
from api.observability import instrument
from api.problems import HANDLERS, ProblemDocs, reject_unknown_query
from api.rate_limits import rate_limit
from api.reads import ReadModels
from api.tokens import TokenReader
from app.ledger import PayoutLedger
from domain.planning import GasModel

Probe = Callable[[], Awaitable[str]]
Lag = Callable[[], Awaitable[dict[str, int]]]


async def _no_ingestion() -> dict[str, int]:
    return {}  # no RPC_URL: nothing to compare the cursors with


@dataclass
class Wiring:
    ledger: PayoutLedger
    reads: ReadModels
    token_reader: TokenReader
    queue: Queue | None = None  # None: execution answers 503 (no REDIS_URL)
    probes: dict[str, Probe] = field(default_factory=dict)
    ingestion_lag: Lag = _no_ingestion
    gas_model: GasModel = field(default_factory=GasModel)  # the network's (CHAIN_NETWORK)


def create_app(wiring: Wiring, *, debug: bool = False, rate_limit_per_minute: int = 0,
               panel: Sequence[ControllerRouterHandler] = (),
               template_config: TemplateConfig[Any] | None = None) -> Litestar:
    """`panel`: the admin panel's routes and `template_config` its templates (`web.app`,
    composed by `runtime.bootstrap`): served by this app, on the same wiring."""
    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        await wiring.reads.open()
        try:
            await _migrate_keys(wiring.reads)
            yield
        finally:
            await wiring.reads.close()

    app = Litestar(
        route_handlers=[AssetController, DistributionController, ScheduleController,
                        ReportController, OpsController, HolderController, AuditController,
                        WebhookController, ClaimController, TreasuryController,
                        VaultController, *panel],
        template_config=template_config,
        guards=[guard],
        before_request=reject_unknown_query,
        exception_handlers=HANDLERS,
        plugins=[ProblemDocs()],
        lifespan=[lifespan],
        middleware=[rate_limit(rate_limit_per_minute)] if rate_limit_per_minute > 0 else [],
        state=State({"ledger": wiring.ledger, "reads": wiring.reads,
                     "token_reader": wiring.token_reader, "queue": wiring.queue,
                     "probes": wiring.probes, "ingestion_lag": wiring.ingestion_lag,
                     "gas_model": wiring.gas_model}),
        openapi_config=OpenAPIConfig(
            title="Mass Payout", version="1.0.0", path="/schema",
            render_plugins=[OfflineDocs(path="/")],
            components=Components(security_schemes={"ApiKey": SecurityScheme(
                type="apiKey", name=HEADER, security_scheme_in="header")}),
            security=[{"ApiKey": []}],
        ),
        debug=debug,
        logging_config=None,  # each process sets its logs up itself (runtime.logs)
    )
    document_strict_bodies(app)
    instrument(app)  # metrics registry, request ids, access log (api.observability)
    return app


async def _migrate_keys(reads: ReadModels) -> None:
    """Keys made before principals lack the columns the guard reads: add them (no-op once
    done), so an API upgraded before any key command still admits the old keys."""
    async with reads.pool.connection() as conn:
        await conn.execute(migration(reads.schema))


@get("/bare", include_in_schema=False)
async def bare() -> dict[str, str]:
    """Touches nothing: the benchmark's yardstick for the framework's own cost."""
    return {"status": "ok"}


def create_bare_app() -> Litestar:
    return Litestar(route_handlers=[bare], openapi_config=None)
