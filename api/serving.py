"""Building the production app from the environment (used by `mass-payout serve`).

DATABASE_URL is required. RPC_URL adds the chain (token imports, ingestion lag, a health
probe); REDIS_URL adds the job queue (execution, a health probe). Without them those
routes answer 503 problems and everything else works.
"""

from __future__ import annotations

import os

from anyio import to_thread
from litestar import Litestar
from redis import Redis
from rq import Queue

from api.app import Probe, Wiring, create_app
from api.reads import ReadModels
from api.tokens import ChainTokenReader, NoChainReader, TokenReader
from chain.jobs import QUEUE_NAME
from mass_payout.bootstrap import open_ledger
from mass_payout.settings import Settings

POOL_SIZE = 10  # read connections per API process; a worker process needs no more


def _probe(check: object) -> Probe:
    async def probe() -> str:
        await to_thread.run_sync(check)  # type: ignore[arg-type]
        return "ok"
    return probe


def build_app() -> Litestar:
    settings = Settings.from_env()
    url = settings.database_url or os.environ.get("MASS_PAYOUT_DATABASE_URL")
    if not url:
        raise SystemExit("set DATABASE_URL (the API does not start an embedded PostgreSQL)")
    ledger = open_ledger(url, settings.schema)
    reads = ReadModels(url, settings.schema, pool_size=POOL_SIZE)
    wiring = Wiring(ledger=ledger, reads=reads, token_reader=NoChainReader())
    if settings.rpc_url:
        from api.ingestion import IngestionLag
        from mass_payout.wiring import web3_for

        w3 = web3_for(settings.rpc_url)
        reader: TokenReader = ChainTokenReader(w3)
        wiring.token_reader = reader
        wiring.ingestion_lag = IngestionLag(reads, w3)
        wiring.probes["chain"] = _probe(lambda: w3.eth.block_number)
    if settings.redis_url:
        redis = Redis.from_url(settings.redis_url)
        wiring.queue = Queue(QUEUE_NAME, connection=redis)
        wiring.probes["redis"] = _probe(redis.ping)
    return create_app(wiring)
