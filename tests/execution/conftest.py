"""End-to-end fixtures: a fresh anvil chain, the session's PostgreSQL, a real Redis, and real
`mass-payout worker` / `ingest` processes started and killed like an operator would."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest
from redis import Redis
from rq import Queue

from app.execution import commit_on_chain, start_execution
from app.importing import import_asset, snapshot_from_chain
from app.ingest import ingest_vaults
from app.jobs import QUEUE_NAME
from app.ledger import PayoutLedger
from devtools.children import Children
from devtools.devchain import Anvil
from devtools.devnet import DevNet, deploy_devnet, fund_vault, take_snapshot
from domain.distribution import Status
from domain.planning import GasModel
from domain.terms import DistributionKind, DistributionTerms, Rule, RuleKind, Withholding
from runtime.bootstrap import Services, build_services
from runtime.settings import Settings

TERMINAL = {Status.COMPLETED, Status.COMPLETED_WITH_FAILURES}


@dataclass
class Stack:
    """What an operator runs: the engines' URLs, and the processes started against them."""

    env: dict[str, str]
    services: Services
    net: DevNet
    children: Children = field(init=False)

    def __post_init__(self) -> None:
        self.children = Children(self.env)

    @property
    def ledger(self) -> PayoutLedger:
        return self.services.ledger

    def spawn(self, *args: str, failpoint: str | None = None) -> subprocess.Popen[bytes]:
        self.children.env = self.env  # a test may re-point RPC_URL (the flaky proxy)
        name = f"{args[0]}-{len(self.children.processes)}"
        return self.children.spawn(name, *args, failpoint=failpoint)

    def stop_all(self) -> None:
        self.children.stop_all()

    def wait_until_done(self, distribution_id: UUID, timeout: float = 240) -> Status:
        """Ingest (in this process, like the ingestor) until the distribution is terminal."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ingest_vaults(self.services.ledger, self.services.gateway, confirmations=0)
            status = self.ledger.get_distribution(distribution_id).status
            if status in TERMINAL:
                return status
            time.sleep(0.3)
        raise AssertionError(f"distribution still {status} after {timeout}s")


@pytest.fixture
def stack(database_url: str, schema: str, redis_url: str) -> Iterator[Stack]:
    Redis.from_url(redis_url).flushdb()
    with Anvil(accounts=4) as w3:
        env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url,
               "RPC_URL": str(w3.provider.endpoint_uri),  # type: ignore[attr-defined]
               "MASS_PAYOUT_SCHEMA": schema}
        for key in ("MASS_PAYOUT_FAILPOINT", "MASS_PAYOUT_PRIVATE_KEY", "MASS_PAYOUT_KEYSTORE"):
            env.pop(key, None)
        services = build_services(Settings.from_env(env))
        stack = Stack(env, services, deploy_devnet(w3, holders=0))
        try:
            yield stack
        finally:
            stack.stop_all()
            services.close()


SMALL_BATCHES = GasModel(budget=2_100_000)  # ~70 leaves a batch: many batches, many workers


def prepare_distribution(stack: Stack, *, holders: int, blocked: list[int] = (),
                         total: int = 5_000_000 * 10**6,
                         gas_model: GasModel = SMALL_BATCHES) -> UUID:
    """Issue shares, snapshot, import, create + approve, freeze, announce, fund, block some."""
    from devtools.devnet import block, holder_addresses, issue_shares

    net = stack.net
    net.holders = holder_addresses(holders)
    issue_shares(net, [(h, 100 + (i * 7919) % 100_000) for i, h in enumerate(net.holders)])
    snapshot_id = take_snapshot(net)
    ledger, w3 = stack.ledger, net.w3
    asset_id = import_asset(ledger, w3, chain_id=31337, token_address=net.token.address,
                            payment_token=net.usd.address, payment_decimals=6,
                            vault_address=net.vault.address, actor="importer",
                            operator=net.admin, approver=net.admin).asset_id
    terms = DistributionTerms(kind=DistributionKind.DIVIDEND, rule=Rule(RuleKind.PRO_RATA, total),
                              record_date=datetime.now(UTC), withholding=Withholding(1_000))
    did = ledger.create_distribution(asset_id=asset_id, idempotency_key="e2e", terms=terms,
                                     actor="maker")
    ledger.approve_distribution(did, "checker")
    totals = snapshot_from_chain(ledger, w3, did, snapshot_id=snapshot_id, gas_model=gas_model)
    commit_on_chain(ledger, stack.services.gateway, stack.services.signer, did,
                    claim_deadline=datetime.now(UTC) + timedelta(days=30), actor="approver")
    fund_vault(net, totals.net)
    for i in blocked:
        block(net, net.holders[i])
    return did


def start(stack: Stack, distribution_id: UUID) -> int:
    return start_execution(stack.ledger, Queue(QUEUE_NAME, connection=stack.services.redis),
                           distribution_id, "operator")

