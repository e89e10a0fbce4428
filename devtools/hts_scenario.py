"""`mass-payout demo --rail hts`: the dividend paid by the HTS rail (issue #18) on a STAND-IN
Hedera network (devtools.hedera_standin: this machine cannot reach Hedera) and its Mirror
Node stand-in (devtools.hedera_standin.mirror), with the real ledger, queue and processes.

1. PostgreSQL and Redis as the dividend demo's (devtools.pipeline.engines; its anvil stays
   idle: a worker opens its EVM side whatever rail it pays).
2. On the stand-in: the payout account (holding the HTS payment token, 6 decimals, KYC
   required), an approver account (pays the commitment's message), an HCS topic, the HTS
   security token held by N holders and the issuer's treasury; `blocked` holders are frozen
   for the payment token or have their KYC revoked.
3. The asset is imported (Hedera's local chain id, both tokens by their long-zero addresses);
   a maker creates the dividend on the HTS rail, a checker approves it; the snapshot is read
   from the Mirror Node stand-in; the commitment is published to the topic (the commit).
4. Worker processes holding the payout account's key (and only they), the supervisor and
   the projections pay it; then it is reconciled against the Mirror Node stand-in.
"""

from __future__ import annotations

import collections
import contextlib
import os
import signal
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any
from uuid import UUID

import psycopg
from hiero_sdk_python import PrivateKey
from psycopg import sql
from rich.console import Console
from rq import Queue, Worker

from app.execution import start_execution
from app.hts_commitment import publish_commitment
from app.hts_reconcile import reconcile_hts
from app.hts_snapshot import snapshot_from_mirror_node
from app.jobs import QUEUE_NAME
from app.reconcile import Reconciliation
from chain.hedera.mirror_client import MirrorNodeClient
from devtools import pipeline, run_logs
from devtools.children import Children
from devtools.hedera_standin import StandinNetwork
from devtools.hedera_standin.mirror import HederaMirrorStandin
from devtools.hedera_standin.state import Relationship, Topic
from devtools.launcher import Launcher
from domain.distribution import Status
from domain.network import HEDERA_CHAIN_IDS
from domain.planning import GasModel
from domain.rails import Rail
from domain.terms import DistributionKind, DistributionTerms, Rule, RuleKind, Withholding
from runtime.bootstrap import build_services
from runtime.hedera import HtsRails
from runtime.settings import Settings

CHAIN_ID = HEDERA_CHAIN_IDS["hedera-local"]
PAYMENT_DECIMALS = 6
PAYER_SUPPLY = 10**15  # the payout account's USD (6 decimals): a billion
TINYBARS = 10_000 * 10**8  # 10,000 hbar for fees
SHARES_PER_HOLDER = 100_00  # 100 shares (2 decimals)
TREASURY_SHARES = 1_000_000_00


@dataclass
class HtsWorld:
    """The stand-in network's side of the demo."""

    net: StandinNetwork
    mirror: HederaMirrorStandin
    payer: int
    payer_key: PrivateKey
    approver: int
    approver_key: PrivateKey
    payment_token: int
    security_token: int
    treasury: int
    topic: int
    holders: list[int] = field(default_factory=list)
    blocked: dict[int, str] = field(default_factory=dict)  # holder -> how

    def env(self, account: int, key: PrivateKey) -> dict[str, str]:
        """The HEDERA_* settings of a process signing as `account`."""
        return {"HEDERA_NODES": f"{self.net.address}=0.0.3", "HEDERA_ACCOUNT_ID": f"0.0.{account}",
                "MASS_PAYOUT_HEDERA_PRIVATE_KEY": key.to_string_der(),
                "HEDERA_TOPIC_ID": f"0.0.{self.topic}",
                "HEDERA_MIRROR_NODE_URL": self.mirror.url,
                # the stand-in is on loopback: no public Mirror Node's limit to respect
                "HEDERA_MIRROR_NODE_RATE": "2000"}


def long_zero(num: int) -> str:
    return "0x" + num.to_bytes(20, "big").hex()


def build_world(net: StandinNetwork, mirror: HederaMirrorStandin, *, holders: int,
                blocked: int) -> HtsWorld:
    """What other transactions would have set up on a real network (the stand-in's test API)."""
    payer_key, approver_key = PrivateKey.generate_ed25519(), PrivateKey.generate_ed25519()
    payer = net.create_account("ed25519", payer_key.public_key().to_bytes_raw(), TINYBARS)
    approver = net.create_account("ed25519", approver_key.public_key().to_bytes_raw(), TINYBARS)
    payment = net.create_token(payer, PAYER_SUPPLY, decimals=PAYMENT_DECIMALS, kyc_required=True)
    treasury = net.create_account("ed25519", os.urandom(32), 0)
    security = net.create_token(treasury, TREASURY_SHARES + holders * SHARES_PER_HOLDER,
                                decimals=2)
    with net.ledger.lock:  # the topic commitments go to (anyone may submit, as on testnet)
        topic = net.ledger.new_entity_number()
        net.ledger.topics[topic] = Topic(submit_key=None)
    world = HtsWorld(net, mirror, payer, payer_key, approver, approver_key, payment, security,
                     treasury, topic)
    for _ in range(holders):  # holders never sign here: any 32 bytes stand for their key
        number = net.create_account("ed25519", os.urandom(32), 0)
        net.associate(number, payment, kyc_granted=True)
        with net.ledger.lock:  # their shares, as the issuer's transfers would have left them
            net.ledger.relationships[(number, security)] = Relationship(
                balance=SHARES_PER_HOLDER)
            net.ledger.relationships[(treasury, security)].balance -= SHARES_PER_HOLDER
        world.holders.append(number)
    for n, index in enumerate(pipeline.blocked_indices(holders, blocked)):
        holder = world.holders[index]
        if n % 2 == 0:
            net.set_frozen(holder, payment, True)
            world.blocked[holder] = "ACCOUNT_FROZEN_FOR_TOKEN"
        else:
            net.set_kyc(holder, payment, False)
            world.blocked[holder] = "ACCOUNT_KYC_NOT_GRANTED_FOR_TOKEN"
    return world


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def run(*, holders: int, blocked: int, workers: int, var_dir: Path, console: Console,
        quiet: bool, launcher: Launcher | None = None) -> dict[str, Any]:
    """The dividend on the HTS rail; its processes are forked from `launcher` when given
    (devtools.launcher)."""
    signal.signal(signal.SIGTERM, _interrupt)
    started = time.perf_counter()
    log_dir = run_logs.new_run(var_dir, "hts")
    with pipeline.engines(var_dir) as env, contextlib.ExitStack() as stack:
        net = StandinNetwork().start()
        stack.callback(net.stop)
        mirror = HederaMirrorStandin(net)
        mirror.start()
        stack.callback(mirror.stop)
        pipeline.fresh_schema(env["DATABASE_URL"],
                          embedded=env.get("MASS_PAYOUT_EMBEDDED_POSTGRES") == "1")
        services = build_services(Settings.from_env(env))
        stack.callback(services.close)
        if env.get("MASS_PAYOUT_EMBEDDED_REDIS") == "1":
            services.redis.flushdb()  # our own Redis: last run's jobs are stale
        world = build_world(net, mirror, holders=holders, blocked=blocked)
        children = Children(env, launcher=launcher)
        stack.callback(children.stop_all)
        # Only the workers get the payout account's key (compose.yaml's discipline).
        children.env = {**env, **world.env(world.payer, world.payer_key)}
        for i in range(workers):
            children.spawn(f"worker-{i + 1}", "worker", log=log_dir / f"worker-{i + 1}.log")
        children.env = env
        children.spawn("supervisor", "supervise", "--interval", "1",
                       log=log_dir / "supervisor.log")
        children.spawn("projections", "project", log=log_dir / "projections.log")
        if not quiet:
            console.print(f"[bold]STAND-IN[/] Hedera network at {net.address} and Mirror Node"
                          f" at {mirror.url} (not Hedera: see docs/hts-rail.md)")
        result = _pay(services, world, children, env, holders=holders, workers=workers)
        summary = summarize(result, time.perf_counter() - started)
        if not quiet:
            show(console, summary, result)
        return summary


@dataclass
class HtsRun:
    distribution_id: UUID
    status: Status
    totals: Any
    paid: int
    failed: int
    transactions: int
    failures_by_reason: dict[str, int]
    reconciliation: Reconciliation
    execution_seconds: float
    fees_tinybars: int
    read_model: dict[str, int]
    commitment: str


def _pay(services: Any, world: HtsWorld, children: Children, env: dict[str, str], *,
         holders: int, workers: int, timeout: float = 300) -> HtsRun:
    ledger = services.ledger
    asset_id = ledger.import_asset(
        chain_id=CHAIN_ID, token_address=long_zero(world.security_token), name="Acme Equity",
        symbol="ACME", decimals=2, kind="EQUITY", payment_token=long_zero(world.payment_token),
        payment_decimals=PAYMENT_DECIMALS, vault_address=None, actor="demo-importer")
    terms = DistributionTerms(
        kind=DistributionKind.DIVIDEND,
        rule=Rule(RuleKind.PRO_RATA, pipeline.DIVIDEND_PER_HOLDER * holders),
        record_date=datetime.now(UTC), withholding=Withholding(1_000),
        excluded=(long_zero(world.treasury),),
        concept="Demo dividend on the HTS rail: pro rata, 10 % withholding, treasury excluded")
    did = ledger.create_distribution(asset_id=asset_id, idempotency_key=pipeline.run_key(),
                                     terms=terms, actor="maker@issuer", rail=Rail.HTS)
    ledger.approve_distribution(did, "checker@issuer")
    mirror = MirrorNodeClient(world.mirror.url)
    try:
        snapshot_from_mirror_node(ledger, mirror, did, timestamp=f"{time.time():.9f}",
                                  gas_model=GasModel())
        # The commit: the root on the topic, paid and signed by the approver's account (the
        # scheduler's role in production), never by the payout account's key.
        approver = HtsRails(Settings.from_env({**env, **world.env(world.approver,
                                                                    world.approver_key)}))
        try:
            published = publish_commitment(
                ledger, approver.for_token(f"0.0.{world.payment_token}"), did,
                topic_id=f"0.0.{world.topic}", claim_deadline=datetime.now(UTC)
                + timedelta(days=90), actor="checker@issuer")
        finally:
            approver.close()
        _wait_for_workers(services, children, workers)
        fees_before = world.net.tinybars(world.payer)
        payer_before = world.net.token_balance(world.payer, world.payment_token) or 0
        since = f"{time.time():.9f}"
        paying = time.perf_counter()
        start_execution(ledger, Queue(QUEUE_NAME, connection=services.redis), did,
                        "operator@issuer")
        deadline = paying + timeout
        while (d := ledger.get_distribution(did)).status not in pipeline.TERMINAL:
            if stopped := children.stopped():
                raise RuntimeError(f"stopped unexpectedly: {stopped}")
            if time.perf_counter() > deadline:
                raise TimeoutError(f"not settled after {timeout:.0f}s")
            time.sleep(0.2)
        execution = time.perf_counter() - paying
        reconciliation = reconcile_hts(ledger, mirror, did, payer=f"0.0.{world.payer}",
                                       since=since, payer_before=payer_before)
    finally:
        mirror.close()
    batches = list(ledger.batches(did))
    reasons = collections.Counter(r for b in batches for i, r in b.failure_reasons.items()
                                  if i in b.failed_leaves())
    return HtsRun(did, d.status, d.totals, d.paid, d.failed,
                  sum(len(b.settled_txs) for b in batches), dict(reasons), reconciliation,
                  execution, fees_before - world.net.tinybars(world.payer),
                  _read_model(env["DATABASE_URL"], did, d.paid),
                  f"topic 0.0.{world.topic} #{published.sequence_number}")


def _wait_for_workers(services: Any, children: Children, count: int,
                      timeout: float = 120) -> None:
    deadline = time.perf_counter() + timeout
    while Worker.count(connection=services.redis) < count:
        stopped = children.stopped()
        if stopped or time.perf_counter() > deadline:
            raise RuntimeError(f"workers did not start ({stopped or 'timeout'})")
        time.sleep(0.1)


def _read_model(database_url: str, did: UUID, expect_paid: int,
                timeout: float = 60) -> dict[str, int]:
    query = sql.SQL("SELECT status, count(*) FROM {}.distribution_holders"
                    " WHERE distribution_id = %s GROUP BY status").format(
        sql.Identifier(f"{pipeline.SCHEMA}_views"))
    deadline = time.perf_counter() + timeout
    counts: dict[str, int] = {}
    with psycopg.connect(database_url, autocommit=True) as conn:
        while time.perf_counter() < deadline:
            with contextlib.suppress(psycopg.errors.UndefinedTable):
                counts = dict(conn.execute(query, (did,)).fetchall())
            if counts.get("PAID", 0) == expect_paid:
                break
            time.sleep(0.25)
    return counts


def summarize(r: HtsRun, seconds: float) -> dict[str, Any]:
    """The dividend demo's figures (devtools.demo.summarize), on the HTS rail: no gas; the
    hbar fees the payout account paid instead (tinybars)."""
    totals = r.totals
    return {
        "holders": totals.holders if totals else 0, "paid": r.paid, "failed": r.failed,
        "skipped": totals.skipped if totals else 0, "gross": totals.gross if totals else 0,
        "net": totals.net if totals else 0, "withheld": totals.withheld if totals else 0,
        "dust": totals.dust if totals else 0, "gas_per_holder": None,
        "seconds": round(seconds, 1),
        "reconciled": r.reconciliation.ok and r.status in pipeline.TERMINAL,
        "rail": "hts", "transactions": r.transactions, "gas_used": 0,
        "fees_tinybars": r.fees_tinybars,
        "fees_tinybars_per_holder": round(r.fees_tinybars / r.paid) if r.paid else None,
        "failures_by_reason": r.failures_by_reason, "status": r.status.value,
        "execution_seconds": round(r.execution_seconds, 1), "read_model": r.read_model,
        "commitment": r.commitment, "payment_decimals": PAYMENT_DECIMALS,
    }


def show(console: Console, s: dict[str, Any], r: HtsRun) -> None:
    from devtools.demo import figure

    console.print(f"[bold]Dividend on the HTS rail[/] (STAND-IN network): {s['status']},"
                  f" distribution {r.distribution_id}")
    console.print(f"commitment published before paying: {s['commitment']}")
    for key in ("holders", "paid", "failed", "skipped", "gross", "net", "withheld", "dust",
                "transactions", "fees_tinybars_per_holder", "execution_seconds", "seconds"):
        console.print(f"  {key:<26} {figure(key, s[key])}")
    for reason, count in s["failures_by_reason"].items():
        console.print(f"  failed: {count} x {reason}")
    statuses = ", ".join(f"{n:,} {k}" for k, n in sorted(s["read_model"].items()))
    console.print(f"read model (what the API serves): {statuses or 'not caught up'}")
    rec = r.reconciliation
    if s["reconciled"]:
        console.print(f"[bold green]RECONCILED[/]: {rec.holders} holders; the Mirror Node"
                      f" (stand-in) shows {rec.chain_paid:,} paid = ledger paid"
                      f" {rec.ledger_paid:,} (USD micro-units)")
    else:
        console.print("[bold red]NOT RECONCILED[/]")
        for difference in rec.differences[:50]:
            console.print(f"  {difference}")
