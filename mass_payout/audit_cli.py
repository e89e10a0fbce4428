"""`mass-payout audit history | verify-log | verify | replay`: prove what happened.

Each check exits 1 when it finds a difference (a broken link, a distribution that does not
add up or disagrees with the chain, a read model its replay does not reproduce), so a
scheduler or CI can run it unattended. `--json` prints one object (the last line).
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any
from uuid import UUID

import typer

if TYPE_CHECKING:
    from app.ledger import PayoutLedger

app = typer.Typer(no_args_is_help=True, help="Audit the ledger: history, tamper evidence,"
                  " conservation and the chain, read-model replay.")

JsonFlag = Annotated[bool, typer.Option("--json", help="one JSON object on the last line")]


@contextmanager
def _ledger() -> Iterator[tuple[PayoutLedger, str, str]]:
    """(ledger, database url, schema) for the duration of one command."""
    from runtime.engines import database, open_ledger
    from runtime.settings import Settings

    settings = Settings.from_env()
    with database(settings) as url:
        ledger = open_ledger(url, settings.schema)
        try:
            yield ledger, url, settings.schema
        finally:
            ledger.close()


def _dump(value: Any) -> str:
    return json.dumps(value, default=str)


@app.command()
def history(aggregate_id: Annotated[UUID, typer.Argument(help="a distribution, batch, asset,"
                                                          " schedule or cursor id")],
            as_json: JsonFlag = False) -> None:
    """Every event of an aggregate: position, time, actor and a one-line summary."""
    from app.audit import history as events_of
    from domain.errors import NotFound

    with _ledger() as (ledger, _url, _schema):
        try:
            entries = events_of(ledger, aggregate_id)
        except NotFound as err:
            typer.echo(f"not found: {err}", err=True)
            raise typer.Exit(1) from None
    if as_json:
        print(_dump({"aggregate_id": str(aggregate_id), "events": [
            {"position": e.position, "version": e.version, "time": e.time.isoformat(),
             "kind": e.kind, "actor": e.actor, "summary": e.summary} for e in entries]}))
        return
    typer.echo("position\tversion\ttime\tactor\tsummary")
    for e in entries:
        typer.echo(f"{e.position}\t{e.version}\t{e.time.isoformat()}\t{e.actor or '-'}"
                   f"\t{e.summary}")


@app.command("verify-log")
def verify_log(as_json: JsonFlag = False) -> None:
    """Recompute the events' hash chain; name the first broken position (exit 1)."""
    from app.audit_log import verify_chain

    with _ledger() as (ledger, _url, _schema):
        check = verify_chain(ledger)
    rate = check.events / check.seconds if check.seconds else 0.0
    if as_json:
        print(_dump({"ok": check.ok, "events": check.events, "broken_at": check.broken_at,
                     "reason": check.reason, "head_position": check.head_position,
                     "head_link": check.head_link, "seconds": round(check.seconds, 3),
                     "events_per_second": round(rate)}))
    elif check.ok:
        typer.echo(f"INTACT: {check.events} events linked up to position"
                   f" {check.head_position} in {check.seconds:.2f}s ({rate:,.0f} events/s);"
                   f" head link {check.head_link}")
    else:
        typer.echo(f"BROKEN at position {check.broken_at}: {check.reason}"
                   f" ({check.events} events before it verified)")
    if not check.ok:
        raise typer.Exit(1)


@app.command()
def verify(distribution: Annotated[UUID | None, typer.Option(
               help="only this distribution (default: every one)")] = None,
           as_json: JsonFlag = False,
           as_csv: Annotated[bool, typer.Option("--csv", help="one CSV row per distribution"
                                                )] = False) -> None:
    """Conservation per distribution from the ledger, and ledger == chain holder by holder
    when RPC_URL is set. Exit 1 on any difference."""
    from app.audit_verify import COLUMNS, audit_distributions
    from domain.errors import NotFound
    from runtime.settings import Settings

    rpc_url = Settings.from_env().rpc_url
    w3 = None
    if rpc_url:
        from runtime.bootstrap import web3_for

        w3 = web3_for(rpc_url)
    with _ledger() as (ledger, _url, _schema):
        try:
            audits = list(audit_distributions(
                ledger, w3, None if distribution is None else [distribution]))
        except NotFound as err:
            typer.echo(f"not found: {err}", err=True)
            raise typer.Exit(1) from None
    ok = all(a.ok for a in audits)
    if as_csv:
        writer = csv.DictWriter(sys.stdout, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(a.row() for a in audits)
    elif as_json:
        print(_dump({"ok": ok, "chain_checked": w3 is not None,
                     "distributions": [a.row() for a in audits]}))
    else:
        for a in audits:
            chain = f", chain paid {a.chain_paid}" if a.chain_checked else ""
            typer.echo(f"{'OK      ' if a.ok else 'MISMATCH'} {a.distribution_id} {a.status}:"
                       f" {a.holders} holders, gross {a.gross}, ledger paid"
                       f" {a.ledger_paid}{chain}")
            for difference in a.differences:
                typer.echo(f"    {difference}")
        typer.echo(f"{len(audits)} distributions, {'all verified' if ok else 'MISMATCHES'}"
                   + ("" if w3 is not None else " (ledger only: set RPC_URL to check the chain)"))
    if not ok:
        raise typer.Exit(1)


@app.command()
def replay(as_json: JsonFlag = False,
           sample: Annotated[int, typer.Option(help="differing rows shown per table")] = 20,
           ) -> None:
    """Rebuild every read model from position 0 into a fresh schema and compare it with the
    live one (a digest per table, then the differing rows). Exit 1 on any difference."""
    from projections.replay import replay as run

    with _ledger() as (ledger, url, schema):
        report = run(ledger, url, schema, sample=sample)
    if as_json:
        print(_dump({"ok": report.ok, "events": report.events,
                     "seconds": round(report.seconds, 3), "tables": [
                         {"table": t.table, "position": t.position, "ok": t.ok,
                          "live_rows": t.live_rows, "replayed_rows": t.fresh_rows,
                          "live_digest": t.live_digest, "replayed_digest": t.fresh_digest,
                          "problem": t.problem, "only_live": t.only_live,
                          "only_replayed": t.only_fresh} for t in report.tables]}))
    else:
        for t in report.tables:
            typer.echo(f"{'OK      ' if t.ok else 'MISMATCH'} {t.table} at {t.position}:"
                       f" {t.live_rows} rows live, {t.fresh_rows} replayed"
                       f" ({t.live_digest[:12] or '-'} / {t.fresh_digest[:12] or '-'})")
            if t.problem:
                typer.echo(f"    {t.problem}")
            for row in t.only_live:
                typer.echo(f"    only live:     {_dump(row)}")
            for row in t.only_fresh:
                typer.echo(f"    only replayed: {_dump(row)}")
        typer.echo(f"replayed {report.events} events into {len(report.tables)} tables in"
                   f" {report.seconds:.2f}s: {'IDENTICAL' if report.ok else 'DIFFERENT'}")
    if not report.ok:
        raise typer.Exit(1)


@app.command("as-of")
def as_of(distribution_id: Annotated[UUID, typer.Argument(help="the distribution")],
          position: Annotated[int | None, typer.Option(help="a ledger position", min=0)] = None,
          at: Annotated[str | None, typer.Option(
              help="a time with its offset, e.g. 2026-07-01T12:00:00Z")] = None,
          as_json: JsonFlag = False) -> None:
    """The distribution and its holders as they stood at a ledger position or a time,
    replayed from the events (not from a read model)."""
    from datetime import datetime

    from app.audit_asof import distribution_as_of
    from domain.errors import InvalidInput, NotFound

    try:
        moment = None if at is None else datetime.fromisoformat(at.replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(f"not a time: {at!r}") from None
    with _ledger() as (ledger, _url, _schema):
        try:
            state = distribution_as_of(ledger, distribution_id, position=position, at=moment)
        except (InvalidInput, NotFound) as err:
            typer.echo(f"refused: {err}", err=True)
            raise typer.Exit(2 if isinstance(err, InvalidInput) else 1) from None
    d, totals = state.distribution, state.distribution.totals
    figures = {"distribution_id": str(distribution_id), "position": state.position,
               "version": d.version, "status": d.status.value,
               "gross": totals.gross if totals else None,
               "net": totals.net if totals else None,
               "batches": len(state.batches), "holders": dict(state.holders),
               "paid_amount": state.paid_amount}
    if as_json:
        print(_dump(figures))
        return
    for name, value in figures.items():
        typer.echo(f"{name}\t{value}")
