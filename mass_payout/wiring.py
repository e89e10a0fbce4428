"""One wiring point per process: builds the ledger, chain gateway, signer and queue.

Worker, ingestor and supervisor processes take their engines from the environment
(DATABASE_URL, REDIS_URL, RPC_URL); the demo starts embedded engines and passes their URLs
down to the processes it spawns, so every process talks to the same real servers.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from uuid import UUID

from redis import Redis
from rq import Queue
from web3 import HTTPProvider, Web3

from chain.gateway import EvmGateway
from chain.jobs import QUEUE_NAME
from chain.signer import LocalSigner, Signer, SignerConfigError, dev_signer
from domain.asset import Asset
from mass_payout.bootstrap import open_ledger
from mass_payout.ledger import PayoutLedger
from mass_payout.settings import Settings

ASSET_TOPICS = [f"{Asset.Imported.__module__}:{Asset.Imported.__qualname__}",
                f"{Asset.VaultLinked.__module__}:{Asset.VaultLinked.__qualname__}"]


class ConfigurationError(RuntimeError):
    """A process was started without the engines it needs."""


@dataclass
class Services:
    ledger: PayoutLedger
    gateway: EvmGateway
    signer: Signer
    redis: Redis
    queue: Queue

    def close(self) -> None:
        self.ledger.close()
        self.redis.close()
        self.gateway.close()  # the nonce lock's kept connection


def web3_for(rpc_url: str) -> Web3:
    return Web3(HTTPProvider(rpc_url, request_kwargs={"timeout": 30}))


def signer_for(w3: Web3) -> Signer:
    """The configured key; on a loopback dev chain with none configured, the dev key."""
    try:
        return LocalSigner.from_env(os.environ)
    except SignerConfigError:
        if any(k in os.environ for k in ("MASS_PAYOUT_KEYSTORE", "MASS_PAYOUT_PRIVATE_KEY")):
            raise
        return dev_signer(w3)


def build(settings: Settings) -> Services:
    missing = [name for name, value in (("DATABASE_URL", settings.database_url),
                                        ("REDIS_URL", settings.redis_url),
                                        ("RPC_URL", settings.rpc_url)) if not value]
    if missing or not (settings.database_url and settings.redis_url and settings.rpc_url):
        raise ConfigurationError(f"set {', '.join(missing)} (the demo sets them for its processes)")
    gateway = gateway_for(settings.rpc_url, settings.database_url)
    redis = Redis.from_url(settings.redis_url)
    return Services(ledger=open_ledger(settings.database_url, settings.schema), gateway=gateway,
                    signer=signer_for(gateway.w3), redis=redis,
                    queue=Queue(QUEUE_NAME, connection=redis))


def gateway_for(rpc_url: str, database_url: str) -> EvmGateway:
    """The chain at RPC_URL; WrongChainError, before anything is sent, if it is not CHAIN_ID's.
    PostgreSQL serializes the signer's nonces across processes (`EvmGateway.nonce_lock`)."""
    expected = os.environ.get("CHAIN_ID")
    return EvmGateway(web3_for(rpc_url), expected_chain_id=int(expected) if expected else None,
                      database_url=database_url)


def assets_with_vaults(ledger: PayoutLedger) -> Iterator[Asset]:
    seen: set[UUID] = set()
    position = 0
    while page := ledger.recorder.select_notifications(start=position + 1, limit=500,
                                                        topics=ASSET_TOPICS):
        seen.update(UUID(str(n.originator_id)) for n in page)
        position = page[-1].id
    for asset_id in sorted(seen):
        asset = ledger.get_asset(asset_id)
        if asset.vault_address:
            yield asset
