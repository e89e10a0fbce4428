"""`mass-payout demo`: the pipeline with a live display, a summary and a reconciliation."""

from __future__ import annotations

import collections
import signal
import time
from pathlib import Path
from types import FrameType
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn
from rich.table import Table

from devtools import pipeline, run_logs
from devtools.launcher import Launcher
from devtools.pipeline import PipelineRun
from domain.planning import GasModel


class Display:
    def __init__(self, console: Console, *, quiet: bool) -> None:
        self.console = console
        self.bar = Progress(TextColumn("{task.description:<16}"), BarColumn(),
                            MofNCompleteColumn(), TextColumn("{task.fields[note]}"),
                            console=console, disable=quiet)
        self.tasks: dict[str, TaskID] = {}

    def __call__(self, p: pipeline.Progress) -> None:
        if not self.tasks:
            for name in ("snapshot", "entitlements", "batches sent", "batches settled"):
                self.tasks[name] = self.bar.add_task(name, total=None, note="")
        if p.stage in {"deploying contracts", "snapshot"}:
            self.bar.update(self.tasks["snapshot"], completed=p.holders_read, total=p.holders,
                            note=p.stage if p.stage != "snapshot" else "holders read")
        elif p.stage == "entitlements" or p.stage.startswith(("coupon-", "redemption")):
            what = "" if p.stage == "entitlements" else f"{p.stage}: "
            self.bar.update(self.tasks["entitlements"], completed=p.holders, total=p.holders,
                            note=f"{what}{p.batches} batches, root announced, vault funded")
        else:
            self.bar.update(self.tasks["batches sent"], completed=p.batches_sent,
                            total=p.batches)
            self.bar.update(self.tasks["batches settled"], completed=p.batches_settled,
                            total=p.batches, note=f"{p.paid} paid, {p.failed} failed")


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # SIGTERM stops the demo exactly like Ctrl-C: children stopped


def run(*, holders: int, blocked: int, workers: int, var_dir: Path, console: Console,
        quiet: bool, launcher: Launcher, serve_port: int | None = None) -> dict[str, Any]:
    """The payout; with `serve_port`, then the panel on the demo's data until Ctrl-C. The
    processes are forked from `launcher` (devtools.launcher); its starter closes it."""
    started = time.perf_counter()
    signal.signal(signal.SIGTERM, _interrupt)
    return _run(launcher, holders=holders, blocked=blocked, workers=workers,
                var_dir=var_dir, console=console, quiet=quiet, serve_port=serve_port,
                started=started)


def _run(launcher: Launcher, *, holders: int, blocked: int, workers: int, var_dir: Path,
         console: Console, quiet: bool, serve_port: int | None,
         started: float) -> dict[str, Any]:
    display = Display(console, quiet=quiet)
    log_dir = run_logs.new_run(var_dir, "dividend")
    with pipeline.engines(var_dir) as env:
        with display.bar:
            run_ = pipeline.prepare(
                env, holders=holders, blocked=blocked, gas_model=GasModel(), observe=display,
                launcher=launcher, early=lambda children: pipeline.spawn_processes(
                    children, workers=workers, log_dir=log_dir))
            try:
                pipeline.execute(run_, workers=workers, observe=display, log_dir=log_dir)
            except BaseException:
                run_.children.stop_all()
                run_.services.close()
                raise
        try:
            summary = summarize(run_, time.perf_counter() - started)
            if not quiet:
                show(console, summary, run_)
            if serve_port is not None:
                serve(run_, port=serve_port, console=console, log_dir=log_dir)
        finally:
            run_.children.stop_all()
            run_.services.close()
    return summary


def run_bond(*, holders: int, blocked: int, workers: int, var_dir: Path, console: Console,
             quiet: bool, launcher: Launcher) -> dict[str, Any]:
    """`--scenario bond`: two coupons by rate and the redemption at maturity
    (devtools.bond_scenario), on the same engines and processes as the dividend (forked from
    `launcher`)."""
    from devtools import bond_scenario

    signal.signal(signal.SIGTERM, _interrupt)
    started = time.perf_counter()
    display = Display(console, quiet=quiet)
    log_dir = run_logs.new_run(var_dir, "bond")
    with pipeline.engines(var_dir) as env:
        with display.bar:
            bond = bond_scenario.prepare(env, holders=holders, blocked=blocked,
                                         gas_model=GasModel(), observe=display,
                                         workers=workers, log_dir=log_dir,
                                         launcher=launcher)
            try:
                bond_scenario.run_bond(bond, display)
            except BaseException:
                bond.run.children.stop_all()
                bond.run.services.close()
                raise
        try:
            summary = bond_scenario.summarize(bond, time.perf_counter() - started)
            if not quiet:
                show_bond(console, summary)
        finally:
            bond.run.children.stop_all()
            bond.run.services.close()
    return summary


def show_bond(console: Console, s: dict[str, Any]) -> None:
    table = Table(title=f"Bond maturing {s['maturity']}: two coupons, then the redemption")
    table.add_column("distribution")
    table.add_column("status")
    table.add_column("net (USD)", justify="right")
    for label, status in s["statuses"].items():
        table.add_row(label, status, figure("net", s["net_by_distribution"][label]))
    console.print(table)
    console.print(f"holders {s['holders']:,}; paid {s['paid']:,}, failed {s['failed']:,} (over"
                  f" the three); units redeemed {s['units_redeemed']:,};"
                  f" gas per holder paid {figure('gas_per_holder', s['gas_per_holder'])}")
    console.print("[bold green]RECONCILED[/] (payments, and units redeemed)" if s["reconciled"]
                  else "[bold red]NOT RECONCILED[/]")


def serve(run: PipelineRun, *, port: int, console: Console, log_dir: Path) -> None:
    """The panel (a `mass-payout serve` child on the demo's engines, beside the demo's
    projections, workers, ingestor and supervisor, still running) until Ctrl-C or SIGTERM,
    with fresh keys to sign in: a viewer's, and an operator's to act."""
    from api.keys import Role, create_key  # here: the demo without --serve never needs them

    env = run.children.env
    url = f"http://127.0.0.1:{port}"
    made = {role: create_key(env["DATABASE_URL"], pipeline.SCHEMA, role,
                             principal=f"demo-{role.value}")[1]
            for role in (Role.VIEWER, Role.OPERATOR)}
    log_dir.mkdir(parents=True, exist_ok=True)
    panel = run.children.spawn("panel", "serve", "--host", "127.0.0.1", "--port", str(port),
                               log=log_dir / "panel.log")
    deadline = time.monotonic() + 60
    while not _answers(f"{url}/health/live"):
        if panel.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the panel did not start on {url}; see {log_dir / 'panel.log'}")
        time.sleep(0.2)
    console.print(f"[bold]panel[/]: {url}/panel/ (the distribution: "
                  f"{url}/panel/distributions/{run.distribution_id})")
    console.print(f"  viewer key:   {made[Role.VIEWER]}")
    console.print(f"  operator key: {made[Role.OPERATOR]}")
    stopping: list[int] = []

    def stop_once(signum: int, frame: FrameType | None) -> None:
        # The same Ctrl-C often arrives twice (`uv run` passes on the one it got too): only
        # the first stops the demo; a second must not cut its shutdown short.
        if not stopping:
            stopping.append(signum)
            raise KeyboardInterrupt

    signal.signal(signal.SIGINT, stop_once)
    signal.signal(signal.SIGTERM, stop_once)
    try:
        console.print("serving the panel until Ctrl-C")  # from here Ctrl-C stops it cleanly
        while panel.poll() is None:
            time.sleep(0.5)
    except KeyboardInterrupt:  # the way a newcomer ends it: not an error
        console.print("stopping the panel and every process the demo started")
        return
    raise RuntimeError(f"the panel stopped (exit code {panel.returncode}); see "
                       f"{log_dir / 'panel.log'}")


def _answers(url: str) -> bool:
    import httpx

    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def summarize(run: PipelineRun, seconds: float) -> dict[str, Any]:
    """The run in figures. Amounts are raw units of the payment token (6 decimals: USD
    micro-units); `holders` counts the snapshot, the issuer's treasury included (it is
    excluded from the dividend: one of `skipped`). `gas_per_holder` is None when none was
    paid. `reconciled`: the ledger and the chain agree holder by holder once every holder has
    an outcome, whether paid or failed (every holder blocklisted is a reconciled run)."""
    ledger = run.services.ledger
    d = ledger.get_distribution(run.distribution_id)
    totals = d.totals
    batches = list(ledger.batches(run.distribution_id))
    gas = sum(b.gas_used for b in batches)
    reasons = collections.Counter(r.split("(")[0] for b in batches
                                  for r in b.failure_reasons.values())
    return {
        "holders": totals.holders if totals else 0, "paid": d.paid, "failed": d.failed,
        "skipped": totals.skipped if totals else 0, "gross": totals.gross if totals else 0,
        "net": totals.net if totals else 0, "withheld": totals.withheld if totals else 0,
        "dust": totals.dust if totals else 0,
        "gas_per_holder": round(gas / d.paid) if d.paid else None,
        "seconds": round(seconds, 1),
        "reconciled": run.reconciliation.ok and d.status in pipeline.TERMINAL,
        "transactions": sum(len(b.settled_txs) for b in batches), "gas_used": gas,
        "failures_by_reason": dict(reasons), "status": d.status.value,
        "execution_seconds": round(run.execution_seconds, 1),
        "peak_rss_mb": run.children.peak_rss_mb,
        "read_model": run.read_model,
        "payment_decimals": PAYMENT_DECIMALS,
    }


PAYMENT_DECIMALS = 6  # the demo's stablecoin (devtools.devnet)
# What each figure of the summary table is, in one unit each: amounts in USD, gas in gas.
ROWS = (("holders", "holders in the snapshot (the issuer's treasury included)"),
        ("paid", "holders paid"), ("failed", "holders not paid (can claim later)"),
        ("skipped", "holders with nothing due (the treasury is excluded)"),
        ("gross", "USD"), ("net", "USD paid out"), ("withheld", "USD withheld (10 %)"),
        ("dust", "USD left by rounding"), ("transactions", "on-chain transactions"),
        ("gas_used", "gas"), ("gas_per_holder", "gas per holder paid"),
        ("execution_seconds", "seconds paying"), ("seconds", "seconds in all"))
USD = frozenset({"gross", "net", "withheld", "dust"})


def figure(key: str, value: object) -> str:
    """A summary value as the table shows it: amounts in USD, counts with separators."""
    if value is None:
        return "-"
    if key in USD and isinstance(value, int):
        return f"{value / 10**PAYMENT_DECIMALS:,.{PAYMENT_DECIMALS}f}"
    return f"{value:,}" if isinstance(value, int | float) else str(value)


def show(console: Console, s: dict[str, Any], run: PipelineRun) -> None:
    table = Table(title=f"Dividend: {s['status']}", caption=f"distribution {run.distribution_id}")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_column("unit")
    for key, unit in ROWS:
        table.add_row(key, figure(key, s[key]), unit)
    console.print(table)
    for reason, count in s["failures_by_reason"].items():
        console.print(f"  failed: {count} x {reason} (can claim until the deadline)")
    statuses = ", ".join(f"{n:,} {s}" for s, n in sorted(run.read_model.items()))
    console.print(f"read model (what the API serves): {statuses or 'not caught up'}")
    rec = run.reconciliation
    if s["reconciled"]:
        console.print(f"[bold green]RECONCILED[/]: {rec.holders} holders; vault paid "
                      f"{rec.chain_paid:,} = ledger paid {rec.ledger_paid:,} (USD micro-units)")
    else:
        console.print("[bold red]NOT RECONCILED[/]")
        if not rec.differences:
            console.print(f"  the distribution did not finish: {s['status']}")
        for difference in rec.differences[:50]:
            console.print(f"  {difference}")
