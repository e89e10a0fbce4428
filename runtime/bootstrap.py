"""The one wiring point: every process is built here, from one `Settings`.

`build_api`, `build_worker`, `build_ingestor`, `build_supervisor`, `build_scheduler` and
`build_projector` each assemble what their process needs (ledger, chain gateway, signer,
queue) and nothing more; the process loops in `mass_payout.processes` only run what these
return. Nothing connects at import time, and nothing here reads the environment: the caller
passes the settings (`Settings.from_env()` in production, a test's own in tests).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

import psycopg
from eventsourcing.persistence import PersistenceError
from eventsourcing.postgres import PostgresDatastore
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue
from rq.worker import SimpleWorker
from web3 import HTTPProvider, Web3

from app import failpoints, jobs, redaction, treasury, vault_requests
from app.audit_runs import ScheduledAudits
from app.automation import Automation
from app.executor import BatchExecutor
from app.ledger import PayoutLedger
from app.owed_jobs import OwedJobs
from app.owed_vault_ops import OwedVaultOpJobs
from app.scheduler import LeaderLock, Scheduler
from app.scheduler_status import StatusBoard
from app.supervisor import Supervisor
from app.treasury import OwedTreasuryJobs
from chain.gateway import EvmGateway, TransientChainError
from chain.logs import LogSource
from chain.signer import LocalSigner, SignedTx, Signer, SignerConfigError, dev_signer
from domain.failures import RetryPolicy
from domain.network import NetworkProfile, network_profile
from domain.planning import GasModel
from projections.store import views_datastore
from runtime import logs
from runtime.engines import open_ledger
from runtime.settings import ConfigurationError, Settings
from runtime.timeouts import bound, redis_client

if TYPE_CHECKING:  # imported where used: a worker or the ingestor never loads the web stack
    from litestar import Litestar

    from api.app import Probe
    from app.webhook_delivery import Deliverer

log = logging.getLogger("mass_payout")

API_POOL_SIZE = 10  # read connections per API process
RPC_TIMEOUT = 30  # seconds per JSON-RPC request

T = TypeVar("T")


@dataclass
class Services:
    """What a chain-facing process (worker, ingestor, supervisor, scheduler) holds."""

    settings: Settings
    ledger: PayoutLedger
    gateway: EvmGateway
    signer: Signer
    redis: Redis
    queue: Queue
    log_source: LogSource | None = None  # the ingestor's; None: JSON-RPC through the gateway

    def close(self) -> None:
        self.ledger.close()
        self.redis.close()
        self.gateway.close()  # the nonce lock's kept connection
        if self.log_source is not None:  # only with MIRROR_NODE_URL: imported only then
            from chain.hedera.mirror_logs import MirrorNodeLogSource

            if isinstance(self.log_source, MirrorNodeLogSource):
                self.log_source.client.close()


def web3_for(rpc_url: str) -> Web3:
    return Web3(HTTPProvider(rpc_url, request_kwargs={"timeout": RPC_TIMEOUT}))


def signer_for(settings: Settings, w3: Web3) -> Signer:
    """The configured key; on a loopback dev chain with none configured, the dev key."""
    if settings.signing_configured():
        return LocalSigner.from_env(settings.signing_environ())
    try:
        return dev_signer(w3)
    except SignerConfigError as err:
        raise ConfigurationError(str(err)) from None


def gateway_for(settings: Settings, rpc_url: str, database_url: str) -> EvmGateway:
    """The chain at RPC_URL; RpcChainIdMismatchError, before anything is sent, if not CHAIN_ID's.
    PostgreSQL serializes the signer's nonces across processes (`EvmGateway.nonce_lock`)."""
    return EvmGateway(web3_for(rpc_url), expected_chain_id=settings.chain_id,
                      database_url=database_url, network=network_of(settings))


def network_of(settings: Settings) -> NetworkProfile:
    """CHAIN_NETWORK's profile: gas cap, calldata limit, fee and nonce policy."""
    return network_profile(settings.chain_network)


def gas_model_for(settings: Settings) -> GasModel:
    """Batches sized within the network's gas cap and calldata limit."""
    return GasModel.for_network(network_of(settings))


def retry_policy(settings: Settings) -> RetryPolicy:
    """MASS_PAYOUT_MAX_ATTEMPTS bounds automatic retries of transient faults."""
    return RetryPolicy(max_attempts=settings.max_attempts)


def _engines(settings: Settings) -> tuple[str, str, str]:
    """DATABASE_URL, REDIS_URL and RPC_URL, all required by a chain-facing process."""
    database, redis, rpc = settings.database_url, settings.redis_url, settings.rpc_url
    if not (database and redis and rpc):
        missing = [n for n, v in (("DATABASE_URL", database), ("REDIS_URL", redis),
                                  ("RPC_URL", rpc)) if not v]
        raise ConfigurationError(f"set {', '.join(missing)} (the demo sets them for its"
                                 " processes)")
    return database, redis, rpc


def build_services(settings: Settings, *, signs: bool = True) -> Services:
    """Ledger, gateway, signer and queue for a process that talks to the chain. `signs`:
    False for the processes that only read the chain (the ingestor, the supervisor), which
    are given no key (compose.yaml) and hold a `NoSigner`."""
    database_url, redis_url, rpc_url = _engines(settings)
    protect_secrets(settings)
    failpoints.arm(settings.failpoint)
    gateway = gateway_for(settings, rpc_url, database_url)
    redis = redis_client(redis_url)
    signer: Signer = signer_for(settings, gateway.w3) if signs else NoSigner()
    return Services(settings=settings, ledger=open_ledger(database_url, settings.schema),
                    gateway=gateway, signer=signer, redis=redis,
                    queue=Queue(jobs.QUEUE_NAME, connection=redis))


class NoSigner:
    """The signer of a process that never signs: it holds no key, and refuses to sign."""

    @property
    def address(self) -> str:
        raise ConfigurationError("this process holds no signing key (it only reads the chain)")

    def sign_transaction(self, tx: dict[str, Any]) -> SignedTx:
        raise ConfigurationError("this process holds no signing key (it only reads the chain)")


def protect_secrets(settings: Settings) -> None:
    """Every secret this process holds is masked in what it records and logs (app.redaction)."""
    redaction.register(settings.database_url, settings.redis_url, settings.rpc_url,
                       settings.mirror_node_url,  # a commercial node's URL may carry a key
                       *settings.signing_environ().values(),
                       *filter(None, [settings.hedera_key()]))
    redaction.install_log_filter()


def when_reachable(build: Callable[[], T], max_delay: float = 30.0) -> T:
    """A process started while the node, PostgreSQL or Redis is down waits for it (with
    backoff) instead of exiting: starting order between the engines and our processes must
    not matter, and a process restarted during an engine's restart (`bench chaos`) must not
    die of it."""
    delay = 1.0
    while True:
        try:
            return build()
        except (TransientChainError, PersistenceError, psycopg.OperationalError,
                RedisError) as err:
            what = "chain" if isinstance(err, TransientChainError) else "engine"
            log.warning("%s unreachable at start, retrying in %.0fs: %s", what, delay, err)
            time.sleep(delay)
            delay = min(delay * 2, max_delay)


# --- one build_* per process ---


@dataclass
class WorkerProcess:
    services: Services
    worker: SimpleWorker


def build_worker(settings: Settings) -> WorkerProcess:
    """A SimpleWorker runs jobs in this process: the wiring (pool, signer) is built once.

    Its heartbeat every few seconds mid-job lets the supervisor take back a killed worker's
    job within seconds, not at RQ's maintenance (app.jobs.PayoutWorker).
    """
    services = when_reachable(lambda: build_services(settings))
    executor = BatchExecutor(services.ledger, services.gateway, services.signer,
                             gas_model_for(settings),
                             retry_policy=retry_policy(settings))
    hts = None
    if settings.hts_configured():  # a worker signing as the HTS payout account
        from runtime.hedera import HtsRails, hts_payer
        hts = hts_payer(services.ledger, HtsRails(settings))
    jobs.install(executor, services.queue, hts)
    worker = jobs.PayoutWorker([services.queue], connection=services.redis,
                               job_monitoring_interval=jobs.HEARTBEAT_SECONDS)
    return WorkerProcess(services, worker)


def build_ingestor(settings: Settings) -> Services:
    """With MIRROR_NODE_URL (a Hedera CHAIN_NETWORK only) logs come from the Mirror Node;
    otherwise from RPC_URL over JSON-RPC. RPC_URL stays required either way: the chain id and
    the vault's ABI codec come from it."""
    services = when_reachable(lambda: build_services(settings, signs=False))
    services.log_source = log_source_for(settings)
    return services


def log_source_for(settings: Settings) -> LogSource | None:
    if settings.mirror_node_url is None:
        return None
    from chain.hedera.mirror_client import MirrorNodeClient  # httpx: only for a Mirror Node
    from chain.hedera.mirror_logs import MirrorNodeLogSource

    return MirrorNodeLogSource(MirrorNodeClient(settings.mirror_node_url))


def build_supervisor(settings: Settings, *, grace_seconds: float) -> tuple[Services, Supervisor]:
    """The supervisor also owes admin-key workers their jobs (`sources`): approved treasury
    operations (`treasury work`) and vault requests (`vault work`). Another such worker adds
    its own source here."""
    services = when_reachable(lambda: build_services(settings, signs=False))
    sources: list[OwedJobs] = [
        OwedTreasuryJobs(services.ledger, Queue(treasury.QUEUE_NAME, connection=services.redis)),
        OwedVaultOpJobs(services.ledger,
                        Queue(vault_requests.QUEUE_NAME, connection=services.redis))]
    return services, Supervisor(services.ledger, services.gateway, services.queue,
                                grace=timedelta(seconds=grace_seconds), sources=sources)


@dataclass
class SchedulerProcess:
    services: Services
    scheduler: Scheduler
    lock: LeaderLock  # one scheduler leads; the others wait
    board: StatusBoard  # what GET /scheduler shows

    def close(self) -> None:
        self.lock.release()
        self.board.close()
        self.services.close()


def build_scheduler(settings: Settings) -> SchedulerProcess:
    services = when_reachable(lambda: build_services(settings))
    hts_snapshot = hts_commit = None
    if settings.hts_configured() and settings.hedera_topic:  # the approver's Hedera account
        from runtime.hedera import hts_automation
        hts_snapshot, hts_commit = hts_automation(settings, services.ledger,
                                                  gas_model_for(settings))
    automation = Automation(services.ledger, services.gateway, services.signer, services.queue,
                            gas_model_for(settings), hts_snapshot=hts_snapshot,
                            hts_commit=hts_commit)
    url = str(settings.database_url)
    audits = ScheduledAudits(services.ledger, services.gateway.w3)
    return SchedulerProcess(services, Scheduler(services.ledger, automation, audits),
                            LeaderLock(url, f"scheduler:{settings.schema}"),
                            StatusBoard(url, settings.schema))


@dataclass
class ProjectorProcess:
    ledger: PayoutLedger
    datastore: PostgresDatastore

    def close(self) -> None:
        self.datastore.close()
        self.ledger.close()


def build_projector(settings: Settings, database_url: str) -> ProjectorProcess:
    """The projections read the ledger and write read models in `<schema>_views`.
    `database_url`: the configured one, or the embedded PostgreSQL the CLI started."""
    return ProjectorProcess(open_ledger(database_url, settings.schema),
                            bound(views_datastore(database_url, settings.schema)))


def build_webhook_deliverer(settings: Settings, database_url: str, *,
                            pool_size: int = 4) -> Deliverer:
    """`mass-payout webhooks deliver`: the outbox, its outcomes, and the ledger (which
    records an endpoint disabled after its run of failures)."""
    from app.webhook_delivery import Deliverer, Policy

    protect_secrets(settings)
    policy = Policy(allow=settings.webhook_allow,
                    disable_after=settings.webhook_disable_after)
    ledger = when_reachable(lambda: open_ledger(database_url, settings.schema))
    return Deliverer(ledger, database_url, settings.schema, policy=policy, pool_size=pool_size)


def _probe(check: Callable[[], object]) -> Probe:
    from anyio import to_thread

    async def probe() -> str:
        # Abandoned when the health check's deadline passes: a silent engine is "down".
        await to_thread.run_sync(check, abandon_on_cancel=True)
        return "ok"
    return probe


def api_from_env() -> Litestar:
    """uvicorn's `--factory` entry (the API benchmark starts the app this way)."""
    return build_api(Settings.from_env())


def build_api(settings: Settings) -> Litestar:
    """DATABASE_URL is required. RPC_URL adds the chain (token imports, ingestion lag, a
    health probe); REDIS_URL adds the job queue (execution, a health probe). Without them
    those routes answer 503 problems and everything else works."""
    from api.app import Wiring, create_app
    from api.ingestion import IngestionLag
    from api.reads import ReadModels
    from api.tokens import ChainTokenReader, NoChainReader
    from web.app import panel, template_config

    if not settings.database_url:
        raise ConfigurationError("set DATABASE_URL (the API does not start an embedded"
                                 " PostgreSQL)")
    protect_secrets(settings)
    logs.configure(settings.log_format)  # and api.observability logs each request
    url = settings.database_url
    reads = ReadModels(url, settings.schema, pool_size=API_POOL_SIZE)
    # Started while PostgreSQL is down (or restarting), it waits rather than exits.
    wiring = Wiring(ledger=when_reachable(lambda: open_ledger(url, settings.schema)),
                    reads=reads, token_reader=NoChainReader(),
                    gas_model=gas_model_for(settings))
    if settings.rpc_url:
        w3 = web3_for(settings.rpc_url)
        wiring.token_reader = ChainTokenReader(w3)
        wiring.ingestion_lag = IngestionLag(reads, w3)
        wiring.probes["chain"] = _probe(lambda: w3.eth.block_number)
    if settings.redis_url:
        redis = redis_client(settings.redis_url)
        wiring.queue = Queue(jobs.QUEUE_NAME, connection=redis)
        wiring.probes["redis"] = _probe(redis.ping)
    app = create_app(wiring, rate_limit_per_minute=settings.rate_limit_per_minute,
                     panel=panel(), template_config=template_config())
    app.state.webhook_allow = settings.webhook_allow  # api.controllers.webhooks
    app.state.webhook_secret_grace = timedelta(hours=settings.webhook_secret_grace_hours)
    return app
