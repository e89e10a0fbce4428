"""`mass-payout`: the one console script, the composition root of every command.

Product commands (processes, schedules, vault, keys, serve, project) build their process
through `runtime.bootstrap`; the dev commands (demo, smoke, bench) come from `devtools` and
`bench`. A configuration error is one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from bench import BENCHES
from mass_payout.alerts_cli import app as alerts_app
from mass_payout.audit_cli import app as audit_app
from mass_payout.claims_cli import app as claims_app
from mass_payout.treasury_cli import app as treasury_app
from mass_payout.vault_cli import app as vault_app
from mass_payout.webhooks_cli import app as webhooks_app
from runtime.settings import Settings

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="Mass Payout: event-sourced payouts to token holders.")
console = Console()
app.add_typer(vault_app, name="vault")
app.add_typer(audit_app, name="audit")
app.add_typer(claims_app, name="claims")
app.add_typer(treasury_app, name="treasury")
app.add_typer(webhooks_app, name="webhooks")
app.add_typer(alerts_app, name="alerts")


@app.command()
def smoke(holders: Annotated[int, typer.Option(help="holders in the sample snapshot")] = 2_000,
          as_json: Annotated[bool, typer.Option(
              "--json", help="print one JSON object instead of the table")] = False) -> None:
    """Record a distribution on the ledger's PostgreSQL, reload it, and check it adds up."""
    from devtools import smoke as run
    from runtime.engines import database, open_ledger

    settings = Settings.from_env()
    started = time.perf_counter()
    with database(settings) as url:
        where = ("DATABASE_URL" if settings.database_url
                 else f"embedded (pgserver) under {settings.var_dir}")
        console.print(f"[dim]PostgreSQL: {where}[/dim]")
        writer = open_ledger(url, settings.schema)
        distribution_id = run.record(writer, holders, run_key=f"smoke-{uuid.uuid4()}")
        writer.close()
        reader = open_ledger(url, settings.schema)  # a fresh application: nothing cached
        result = run.verify(reader, distribution_id)
        reader.close()
    seconds = time.perf_counter() - started
    ok = result.conserved and result.reloaded_root == result.merkle_root
    t = result.totals
    if as_json:
        print(json.dumps({"distribution_id": str(result.distribution_id), "holders": t.holders,
                          "eligible": t.eligible, "skipped": t.skipped, "gross": t.gross,
                          "net": t.net, "withheld": t.withheld, "dust": t.dust,
                          "batches": result.batches, "merkle_root": result.merkle_root,
                          "seconds": round(seconds, 2), "ok": ok}))
    else:
        table = Table(title=f"Smoke distribution {result.distribution_id}")
        table.add_column("measure")
        table.add_column("value", justify="right")
        for name, value in [("holders", t.holders), ("eligible", t.eligible),
                            ("skipped", t.skipped), ("gross", t.gross), ("net", t.net),
                            ("withheld", t.withheld), ("dust", t.dust),
                            ("batches", result.batches), ("holder records", result.holder_records),
                            ("seconds", f"{seconds:.2f}")]:
            table.add_row(name, str(value))
        console.print(table)
        console.print(f"root recorded {result.merkle_root}\nroot reloaded {result.reloaded_root}")
        console.print("[bold green]RELOADED AND CONSERVED[/]" if ok else "[bold red]MISMATCH[/]")
    if not ok:
        raise typer.Exit(1)


@app.command()
def demo(holders: Annotated[int, typer.Option(help="token holders to pay")] = 2_000,
         blocked: Annotated[int, typer.Option(help="holders the stablecoin blocklists")] = 3,
         workers: Annotated[int, typer.Option(help="RQ worker processes")] = 2,
         serve: Annotated[bool, typer.Option(
             "--serve", help="then serve the admin panel on the demo's data until Ctrl-C "
                             "(prints its URL, a viewer key and an operator key)")] = False,
         port: Annotated[int, typer.Option(help="the panel's port (with --serve)")] = 8000,
         as_json: Annotated[bool, typer.Option(
             "--json", help="print one JSON object (amounts in raw units) instead of the"
                            " table")] = False,
         scenario: Annotated[str, typer.Option(
             help="dividend, or bond: two quarterly coupons by rate and the redemption at"
                  " maturity, moving the dev chain's clock")] = "dividend",
         rail: Annotated[str, typer.Option(
             help="vault, or hts: the dividend paid by native HTS transfers on a STAND-IN"
                  " Hedera network and Mirror Node (devtools.hedera_standin)")] = "vault",
         ) -> None:
    """Pay a dividend to N holders end to end on embedded engines and a dev chain. The
    snapshot has one holder more than --holders: the issuer's treasury, which the dividend
    excludes. `--scenario bond` issues a bond to N holders instead, pays its two coupons and
    redeems it at maturity."""
    from devtools import demo as run
    from devtools.launcher import Launcher

    refusal = _demo_refusal(holders=holders, blocked=blocked, workers=workers,
                            scenario=scenario, rail=rail, serve=serve)
    if refusal:
        raise _refuse(refusal)
    settings = Settings.from_env()
    # First, before anything connects or starts a thread: the launcher the processes of every
    # scenario are forked from, which imports what they need while the engines start.
    launcher = Launcher.start(main, _preload_processes)
    try:
        if rail == "hts":
            from devtools import hts_scenario

            summary = hts_scenario.run(holders=holders, blocked=blocked, workers=workers,
                                       var_dir=settings.var_dir, console=console,
                                       quiet=as_json, launcher=launcher)
        elif scenario == "bond":
            summary = run.run_bond(holders=holders, blocked=blocked, workers=workers,
                                   var_dir=settings.var_dir, console=console, quiet=as_json,
                                   launcher=launcher)
        else:
            summary = run.run(holders=holders, blocked=blocked, workers=workers,
                              var_dir=settings.var_dir, console=console, quiet=as_json,
                              launcher=launcher, serve_port=port if serve else None)
    except KeyboardInterrupt:
        console.print("[yellow]interrupted: every process it started has been stopped[/]")
        raise typer.Exit(130) from None
    finally:
        launcher.close()  # already, when the scenario stopped its children
    if as_json:
        keys: tuple[str, ...] = ("holders", "paid", "failed", "skipped", "gross", "net",
                                 "withheld", "dust", "gas_per_holder", "seconds", "reconciled")
        if scenario == "bond":
            keys = (*keys, "units_redeemed", "statuses", "net_by_distribution")
        if rail == "hts":
            keys = (*keys, "rail")
        print(json.dumps({k: summary[k] for k in keys}))
    if not summary["reconciled"]:
        raise typer.Exit(1)


def _demo_refusal(*, holders: int, blocked: int, workers: int, scenario: str, rail: str,
                  serve: bool) -> str | None:
    """The one line refusing options the demo cannot run with, or None."""
    from devtools.pipeline import check_sizes

    try:
        check_sizes(holders=holders, blocked=blocked)
    except ValueError as err:
        return str(err)
    if workers < 1:
        return f"--workers must be at least 1 (got {workers})"
    if scenario not in ("dividend", "bond"):
        return f"--scenario is dividend or bond, not {scenario!r}"
    if scenario == "bond" and serve:
        return "--serve shows the dividend scenario only"
    if rail not in ("vault", "hts"):
        return f"--rail is vault or hts, not {rail!r}"
    if rail == "hts" and (scenario != "dividend" or serve):
        return "--rail hts runs the dividend scenario, without --serve"
    return None


@app.command()
def bench(name: Annotated[str, typer.Argument(help=" | ".join(BENCHES))],
          holders: Annotated[int | None, typer.Option(help="holders, where it applies")] = None,
          kills: Annotated[int | None, typer.Option(help="chaos: processes to kill -9")] = None,
          seed: Annotated[int | None, typer.Option(help="chaos: the random seed")] = None,
          unassociated: Annotated[float | None, typer.Option(
              min=0, max=100, help="hts: percent of holders not associated with the token"
              " (paid by airdrop)")] = None,
          as_json: Annotated[bool, typer.Option(
              "--json", help="progress on stderr; stdout's last line is one JSON object")
          ] = False,
          ) -> None:
    """Run a benchmark; with --json the last line is one JSON object. Exit code 1 when the
    benchmark says it failed (`"ok": false`)."""
    from bench import load

    try:
        runner = load(name)
    except LookupError as err:
        raise typer.BadParameter(str(err)) from None
    options: dict[str, float] = {k: v for k, v in (("kills", kills), ("seed", seed))
                                 if v is not None}
    if options and name != "chaos":
        raise typer.BadParameter("--kills and --seed apply to chaos only")
    if unassociated is not None:
        if name != "hts":
            raise typer.BadParameter("--unassociated applies to hts only")
        options["unassociated"] = unassociated
    # With --json the progress still goes somewhere: a run that hangs or is killed (CI's
    # timeout) must show how far it got, and stdout stays one JSON object at the end.
    log = (lambda msg: print(msg, file=sys.stderr, flush=True)) if as_json else console.print
    result = runner(holders=holders, log=log, **options)
    if as_json:
        print(json.dumps(result))
    else:
        console.print_json(json.dumps(result))
    if result.get("ok") is False:
        raise typer.Exit(1)




@app.command()
def worker(burst: Annotated[bool, typer.Option(help="exit when the queue is empty")] = False,
           ) -> None:
    """Run one RQ worker process paying batches (needs DATABASE_URL, REDIS_URL, RPC_URL)."""
    from mass_payout.processes import run_worker

    settings = _logging()
    run_worker(settings, burst=burst)


@app.command()
def ingest(confirmations: Annotated[int, typer.Option(help="blocks below head (0: Hedera)")] = 0,
           interval: Annotated[float, typer.Option(help="seconds between polls")] = 1.0,
           once: Annotated[bool, typer.Option(help="catch up once, then exit")] = False) -> None:
    """Ingest vault logs and deposits into the ledger, from each cursor to head - confirmations."""
    from domain.cursor import ReorgDetected
    from mass_payout.processes import run_ingestor

    settings = _logging()
    try:
        run_ingestor(settings, confirmations=confirmations, interval=interval,
                     once=once)
    except ReorgDetected as err:
        console.print(f"[bold red]INGESTION HALTED[/]: {err}")
        raise typer.Exit(3) from None


@app.command()
def supervise(interval: Annotated[float, typer.Option()] = 5.0,
              grace: Annotated[float, typer.Option(help="seconds before an unseen tx is lost")]
              = 60.0,
              once: Annotated[bool, typer.Option()] = False) -> None:
    """Re-check submitted batches (mined, reverted, lost) and re-queue what must be re-sent."""
    from mass_payout.processes import run_supervisor

    settings = _logging()
    run_supervisor(settings, interval=interval, grace_seconds=grace, once=once)


@app.command()
def scheduler(interval: Annotated[float, typer.Option(help="seconds between ticks")] = 1.0,
              once: Annotated[bool, typer.Option(help="one tick (if leader), then exit")]
              = False) -> None:
    """Fire schedules and move automated distributions forward. One leads (a PostgreSQL
    advisory lock); others started alongside wait as standbys."""
    from mass_payout.processes import run_scheduler

    settings = _logging()
    run_scheduler(settings, interval=interval, once=once)


def _preload_processes() -> None:
    """What the demo's processes import beyond the demo itself: their loops and the
    projections (devtools.launcher imports them once for all of them)."""
    import rq.worker  # noqa: F401

    import mass_payout.processes  # noqa: F401
    import projections.rebuild  # noqa: F401


def _refuse(reason: str) -> typer.Exit:
    """A bad option: one line on stderr, exit code 2 (as a configuration error)."""
    print(f"mass-payout: {reason}", file=sys.stderr)
    return typer.Exit(2)


def _logging() -> Settings:
    """The process's settings, its logs set up in MASS_PAYOUT_LOG_FORMAT (runtime.logs); the
    bootstrap adds this process's own secrets to what they mask."""
    from runtime import logs

    settings = Settings.from_env()
    logs.configure(settings.log_format)
    return settings


def _register() -> None:
    """`serve` and `project`, `keys`, and `schedules` (the application's commands)."""
    from mass_payout import api_cli, bond_cli, keys_cli, schedule_cli

    api_cli.register(app)
    bond_cli.register(app)
    keys_cli.register(app)
    schedule_cli.register(app)


_register()


def main() -> None:
    """A misconfiguration (a missing or invalid variable, an unusable key) is one line."""
    from chain.signer import SignerConfigError
    from runtime.settings import ConfigurationError

    try:
        app()
    except (ConfigurationError, SignerConfigError) as err:
        print(f"mass-payout: {err}", file=sys.stderr)
        raise SystemExit(2) from None
