"""`mass-payout demo --scenario bond`: a bond's life on a dev chain whose clock can be moved.

A bond is issued to N holders today (on the chain's clock) with a 5 % quarterly coupon
(ACT/360) maturing in six months: two coupons, the second at maturity. The coupon terms are
recorded through the application's own command (`app.bonds`), each coupon is a RATE
distribution computed from them (per holder floor(units x nominal x rate x day-count
fraction)); at maturity a CASH_OUT redeems every unit at its nominal. For each date the
chain's clock is moved to it (anvil's `evm_setNextBlockTimestamp`), the holders are frozen by
a snapshot, and the distribution is approved by a second actor, announced, funded, paid by
the real worker, ingestor and supervisor processes, and reconciled (for the cash-out, the
units redeemed too). Blocked holders fail alone each time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from uuid import UUID

from app.bonds import SetBondTerms, set_bond_terms
from app.execution import commit_on_chain
from app.importing import import_asset, snapshot_from_chain
from app.reconcile import balances
from chain.contracts import BOND, deploy_security_token, role, send
from devtools import pipeline
from devtools.children import Children
from devtools.devnet import block, deploy_devnet, fund_vault, holder_addresses, issue_shares
from devtools.devnet import take_snapshot as snapshot_token
from devtools.launcher import Launcher
from devtools.pipeline import PipelineRun, Progress
from domain.daycount import roll
from domain.distribution import Distribution
from domain.planning import GasModel
from domain.redemption import principal_rule
from domain.terms import DistributionKind, DistributionTerms, Rule
from runtime.bootstrap import build_services
from runtime.settings import Settings

NOMINAL = 1_000 * 10**6  # 1,000 USD (6 decimals) per whole bond unit
UNIT_DECIMALS = 2
CLAIM_WINDOW = timedelta(days=90)


@dataclass
class BondRun:
    run: PipelineRun
    maturity: date
    distributions: dict[str, UUID] = field(default_factory=dict)  # by label, in order
    units_redeemed: int = 0
    reconciled: list[bool] = field(default_factory=list)


def chain_now(run: PipelineRun) -> datetime:
    w3 = run.services.gateway.w3
    return datetime.fromtimestamp(int(w3.eth.get_block("latest")["timestamp"]), UTC)


def move_clock(run: PipelineRun, day: date) -> None:
    """The dev chain's next block at `day` 00:00:01 UTC (never backwards), mined now."""
    w3 = run.services.gateway.w3
    target = int(datetime.combine(day, time(0, 0, 1), UTC).timestamp())
    if target > int(w3.eth.get_block("latest")["timestamp"]):
        w3.provider.make_request("evm_setNextBlockTimestamp", [target])  # type: ignore[arg-type]
        w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]


def prepare(env: dict[str, str], *, holders: int, blocked: int, gas_model: GasModel,
            observe: Callable[[Progress], None], workers: int, log_dir: Any,
            launcher: Launcher | None = None) -> BondRun:
    """Engines fresh, processes started, the vault and stablecoin deployed, the bond issued
    and imported, its coupon terms recorded."""
    pipeline.check_sizes(holders=holders, blocked=blocked)
    pipeline.fresh_schema(env["DATABASE_URL"],
                          embedded=env.get("MASS_PAYOUT_EMBEDDED_POSTGRES") == "1")
    services = build_services(Settings.from_env(env))
    if env.get("MASS_PAYOUT_EMBEDDED_REDIS") == "1":
        services.redis.flushdb()
    children = Children(env, launcher=launcher)
    try:
        pipeline.spawn_processes(children, workers=workers, log_dir=log_dir)
        observe(Progress(stage="deploying contracts", holders=holders))
        w3 = services.gateway.w3
        net = deploy_devnet(w3, holders=0)
        issue = datetime.fromtimestamp(int(w3.eth.get_block("latest")["timestamp"]), UTC).date()
        maturity = roll(issue, 6, False)
        at = int(datetime.combine(maturity, time(), UTC).timestamp())
        bond = deploy_security_token(w3, admin=net.admin, name="Acme 5% 6M Bond", symbol="ABND",
                                     decimals=UNIT_DECIMALS, kind=BOND, maturity_date=at,
                                     nominal_value=NOMINAL)
        for name in ("ISSUER", "CORPORATE_ACTION"):
            send(bond.functions.grantRole(role(name), net.admin), net.admin)
        send(bond.functions.grantRole(role("CONTROLLER"), net.vault.address), net.admin)
        net.token = bond
        net.holders = holder_addresses(holders, tag="bondholder")
        issue_shares(net, [(h, 100 + (i * 7919) % 10_000) for i, h in enumerate(net.holders)])
        for index in pipeline.blocked_indices(holders, blocked):
            block(net, net.holders[index])
        ledger = services.ledger
        asset_id = import_asset(ledger, w3, chain_id=services.gateway.chain_id,
                                token_address=bond.address, payment_token=net.usd.address,
                                payment_decimals=6, vault_address=net.vault.address,
                                actor="demo-importer", operator=services.signer.address,
                                approver=services.signer.address).asset_id
        coupon = SetBondTerms(coupon_rate="0.05", frequency="QUARTERLY", day_count="ACT_360",
                              issue_date=issue, reason="the prospectus")
        set_bond_terms(ledger, asset_id, coupon, actor="bond-desk@issuer")
        run = PipelineRun(services, net, pipeline.NO_DISTRIBUTION, children, asset_id,
                          gas_model=gas_model)
        pipeline.wait_for_workers(run, workers)
        return BondRun(run, maturity)
    except BaseException:
        children.stop_all()
        services.close()
        raise


def pay_on(bond: BondRun, day: date, kind: DistributionKind, rule: Rule, key: str,
           observe: Callable[[Progress], None]) -> None:
    """On `day` (the chain's clock moved to it): freeze, approve, announce, fund, pay,
    reconcile one distribution."""
    run = bond.run
    ledger, w3, net = run.services.ledger, run.services.gateway.w3, run.net
    move_clock(run, day)
    run.snapshot_id = snapshot_token(net)
    run.held_before = balances(w3, net.usd.address, net.holders)
    terms = DistributionTerms(kind=kind, rule=rule,
                              record_date=datetime.combine(day, time(), UTC),
                              concept=f"{key}: Acme 5% 6M Bond")
    did = ledger.create_distribution(asset_id=run.asset_id, idempotency_key=pipeline.run_key()
                                     + f"-{key}", terms=terms, actor="maker@issuer")
    ledger.approve_distribution(did, "checker@issuer")
    progress = Progress(stage="snapshot", holders=len(net.holders))

    def page(count: int) -> None:
        progress.holders_read += count
        observe(progress)

    totals = snapshot_from_chain(ledger, w3, did, snapshot_id=run.snapshot_id,
                                 gas_model=run.gas_model, on_page=page)
    commit_on_chain(ledger, run.services.gateway, run.services.signer, did,
                    claim_deadline=chain_now(run) + CLAIM_WINDOW, actor="checker@issuer")
    fund_vault(net, totals.net)
    progress.stage, progress.batches = key, ledger.get_distribution(did).batch_count
    observe(progress)
    run.distribution_id = did
    bond.distributions[key] = did
    pipeline.pay(run, observe=observe)
    bond.reconciled.append(run.reconciliation.ok)
    bond.units_redeemed += run.reconciliation.units_redeemed


def run_bond(bond: BondRun, observe: Callable[[Progress], None]) -> None:
    """Two coupons by rate, then the redemption at maturity."""
    asset = bond.run.services.ledger.get_asset(bond.run.asset_id)
    terms = asset.bond_terms
    assert terms is not None  # recorded by prepare
    for number, day in enumerate(terms.coupon_dates(), 1):
        pay_on(bond, day, DistributionKind.COUPON, terms.coupon_rule(number), f"coupon-{number}",
               observe)
    pay_on(bond, bond.maturity, DistributionKind.CASH_OUT, principal_rule(asset), "redemption",
           observe)


def summarize(bond: BondRun, seconds: float) -> dict[str, Any]:
    """The dividend demo's figures summed over the bond's distributions, plus the units
    redeemed and each distribution's status and net."""
    ledger = bond.run.services.ledger
    out: dict[str, Any] = dict.fromkeys(("holders", "paid", "failed", "skipped", "gross",
                                         "net", "withheld", "dust", "transactions",
                                         "gas_used"), 0)
    statuses: dict[str, str] = {}
    nets: dict[str, int] = {}
    for label, did in bond.distributions.items():
        d: Distribution = ledger.get_distribution(did)
        batches = list(ledger.batches(did))
        t = d.totals
        assert t is not None
        out["holders"] = max(out["holders"], t.holders)
        for name, value in (("paid", d.paid), ("failed", d.failed), ("skipped", t.skipped),
                            ("gross", t.gross), ("net", t.net), ("withheld", t.withheld),
                            ("dust", t.dust),
                            ("transactions", sum(len(b.settled_txs) for b in batches)),
                            ("gas_used", sum(b.gas_used for b in batches))):
            out[name] += value
        statuses[label] = d.status.value
        nets[label] = t.net
    done = len(bond.distributions) == 3 and all(
        ledger.get_distribution(did).status in pipeline.TERMINAL
        for did in bond.distributions.values())
    out.update(gas_per_holder=round(out["gas_used"] / out["paid"]) if out["paid"] else None,
               seconds=round(seconds, 1), reconciled=done and all(bond.reconciled),
               units_redeemed=bond.units_redeemed, statuses=statuses, net_by_distribution=nets,
               maturity=bond.maturity.isoformat(), payment_decimals=6)
    return out
