"""`mass-payout treasury …`: reclaim and sweep a distribution's money left in the vault.

`reclaim` and `sweep` record a request; `approve` (another person: four eyes) records the
approval and queues the treasurer's job; `work` is the treasurer process that runs those jobs
with the treasurer's key (the only process given it: compose.yaml). `list` shows them from the
ledger. A refusal is one line on stderr and exit code 1, and records nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated
from uuid import UUID

import typer

if TYPE_CHECKING:
    from app.ledger import PayoutLedger

app = typer.Typer(no_args_is_help=True, help="Reclaim unclaimed funds after the claim deadline"
                  " and sweep withheld tax and dust: four eyes, sent by the treasurer's key.")

Actor = Annotated[str, typer.Option(help="who asks (or approves): recorded in the event")]
Reason = Annotated[str, typer.Option(help="why, recorded with the request")]


@contextmanager
def _ledger() -> Iterator[tuple[PayoutLedger, str | None]]:
    """(ledger, REDIS_URL) for one command; a refusal of the ledger is one line, exit 1."""
    from domain.errors import DomainError
    from runtime.engines import database, open_ledger
    from runtime.settings import Settings

    settings = Settings.from_env()
    with database(settings) as url:
        ledger = open_ledger(url, settings.schema)
        try:
            yield ledger, settings.redis_url
        except DomainError as err:
            typer.echo(f"refused: {err}", err=True)
            raise typer.Exit(1) from None
        finally:
            ledger.close()


@app.command()
def reclaim(distribution_id: UUID, actor: Actor, reason: Reason = "claim window closed"
            ) -> None:
    """Ask to return what the distribution left unpaid to the vault's treasury (after the
    claim deadline)."""
    with _ledger() as (ledger, _redis):
        number, position = ledger.request_reclaim(distribution_id, actor=actor, reason=reason,
                                                  now=datetime.now(UTC))
    typer.echo(f"reclaim {number} requested (position {position}): another person approves"
               f" it with `treasury approve {distribution_id} {number}`")


@app.command()
def sweep(distribution_id: UUID, amount: Annotated[int, typer.Option(
              help="smallest units, at most withheld + dust + skipped less other sweeps")],
          actor: Actor, reason: Reason = "withheld tax and dust",
          to: Annotated[str, typer.Option(
              "--to", help="TREASURY, or the asset's configured TAX_AUTHORITY or DUST account"
          )] = "TREASURY") -> None:
    """Ask to sweep what the distribution left in the vault beyond its net."""
    from domain.treasury import SweepDestination

    if to.upper() not in SweepDestination.__members__:
        typer.echo(f"refused: --to is one of {', '.join(SweepDestination)}, not {to!r}",
                   err=True)
        raise typer.Exit(2)
    with _ledger() as (ledger, _redis):
        number, position = ledger.request_sweep(distribution_id, actor=actor, amount=amount,
                                                reason=reason, now=datetime.now(UTC),
                                                destination=SweepDestination(to.upper()))
    typer.echo(f"sweep {number} of {amount} to {to.upper()} requested (position {position}):"
               f" another person approves it with `treasury approve {distribution_id} {number}`")


@app.command()
def accounts(asset_id: UUID, actor: Actor,
             tax_authority: Annotated[str | None, typer.Option(
                 help="where withheld tax may be swept (unset: cleared)")] = None,
             dust: Annotated[str | None, typer.Option(
                 help="where dust may be swept (unset: cleared)")] = None,
             reason: Reason = "sweep accounts configured") -> None:
    """Configure the asset's tax-authority and dust accounts (the vault's admin allows each
    on-chain too: `vault sweep-account`)."""
    with _ledger() as (ledger, _redis):
        position = ledger.set_sweep_accounts(asset_id, tax_authority=tax_authority, dust=dust,
                                             actor=actor, reason=reason)
        found = ledger.get_asset(asset_id).sweep_accounts
    typer.echo(("unchanged" if not position else f"recorded (position {position})")
               + f": tax authority {found.get('TAX_AUTHORITY', '-')}, dust"
               f" {found.get('DUST', '-')}")


@app.command()
def approve(distribution_id: UUID, number: int, actor: Actor) -> None:
    """Approve a request (not its requester) and queue the treasurer's job; run again to
    queue it again (a queued or finished job is not queued twice)."""
    from redis import Redis
    from rq import Queue

    from app import treasury
    from domain.treasury import TreasuryState

    with _ledger() as (ledger, redis_url):
        queue = Queue(treasury.QUEUE_NAME, connection=Redis.from_url(redis_url)) \
            if redis_url else None
        op = ledger.get_distribution(distribution_id).treasury_op(number)
        if op.state is TreasuryState.REQUESTED:
            ledger.approve_treasury_op(distribution_id, number, actor)
        elif op.state is not TreasuryState.APPROVED:
            typer.echo(f"refused: {op.kind.lower()} {number} is {op.state}", err=True)
            raise typer.Exit(1)
        queued = treasury.dispatch(queue, distribution_id, number) if queue else False
    typer.echo(f"{op.kind.lower()} {number} approved; "
               + ("queued for the treasurer" if queued else
                  "already queued" if queue else "no REDIS_URL: nothing queued"))


@app.command("list")
def list_(distribution_id: UUID,
          as_json: Annotated[bool, typer.Option("--json", help="one JSON object")] = False
          ) -> None:
    """The distribution's reclaims and sweeps, from the ledger."""
    with _ledger() as (ledger, _redis):
        distribution = ledger.get_distribution(distribution_id)
    ops = [{"number": op.number, "kind": op.kind.value, "state": op.state.value,
            "amount": op.amount, "destination": op.destination.value,
            "recipient": op.recipient, "requested_by": op.requested_by,
            "approved_by": op.approved_by, "tx_hashes": op.tx_hashes,
            "rejection": op.rejection} for op in distribution.treasury_ops.values()]
    if as_json:
        print(json.dumps({"distribution_id": str(distribution_id), "reclaimed":
                          distribution.reclaimed, "swept": distribution.swept,
                          "sweepable": distribution.sweepable, "operations": ops}))
        return
    typer.echo(f"reclaimed {distribution.reclaimed}, swept {distribution.swept},"
               f" left to sweep {distribution.sweepable}")
    for op in ops:
        typer.echo("\t".join(str(op[k]) for k in ("number", "kind", "state", "amount",
                                                   "destination", "requested_by",
                                                   "approved_by")))


@app.command()
def work(burst: Annotated[bool, typer.Option(help="exit when the queue is empty")] = False
         ) -> None:
    """The treasurer process: runs approved reclaims and sweeps with this process's key,
    which must hold the vault's TREASURER_ROLE (needs DATABASE_URL, REDIS_URL, RPC_URL).
    At start it first runs every approved operation not yet settled (a crash, a lost job)."""
    from rq import Queue
    from rq.worker import SimpleWorker

    from app import treasury
    from runtime.bootstrap import build_services, when_reachable
    from runtime.settings import Settings

    settings = Settings.from_env()
    services = when_reachable(lambda: build_services(settings))
    executor = treasury.TreasuryExecutor(services.ledger, services.gateway, services.signer)
    treasury.install(executor)
    for outcome in treasury.resume(services.ledger, executor):  # what a crash left open
        typer.echo(f"resumed: {outcome.action} {outcome.detail} {outcome.tx_hash or ''}",
                   err=True)
    queue = Queue(treasury.QUEUE_NAME, connection=services.redis)
    try:
        SimpleWorker([queue], connection=services.redis).work(
            burst=burst, with_scheduler=True, logging_level="WARNING")
    finally:
        services.close()
