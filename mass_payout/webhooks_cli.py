"""`mass-payout webhooks create | list | disable | enable | rotate-secret | deliver`.

Endpoints are ledger events (who, when); the signing secret is printed once by `create`
(and a new one once by `rotate-secret`).
`deliver` is the delivery loop: it sends what the `webhook_events` projection (run by
`mass-payout project`) put in the outbox, due heads of each distribution's chain in
parallel, and waits `--interval` when nothing is due. Several loops may run: each event is
locked while it is sent. Refusals are one line on stderr and exit code 2.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Annotated, TypeVar
from uuid import UUID

import typer

from app.ledger import PayoutLedger
from app.webhooks import Webhooks
from domain.errors import DomainError
from domain.topics import topics_of
from domain.webhooks import EVENT_TYPES, WebhookEndpoint

T = TypeVar("T")
PRUNE_EVERY = 3600.0  # seconds between the deliverer's prunes of old attempts
app = typer.Typer(no_args_is_help=True,
                  help="Webhooks: signed notifications of what the ledger recorded.")
Actor = Annotated[str, typer.Option(help="who acts (recorded in the ledger's events)")]
EndpointId = Annotated[UUID, typer.Argument(help="the endpoint's id")]


@contextmanager
def _webhooks() -> Iterator[Webhooks]:
    from runtime.engines import database, open_ledger
    from runtime.settings import Settings

    settings = Settings.from_env()
    with database(settings) as url:
        ledger = open_ledger(url, settings.schema)
        try:
            yield Webhooks(ledger, url, settings.schema, settings.webhook_allow,
                           timedelta(hours=settings.webhook_secret_grace_hours))
        finally:
            ledger.close()


def _run(command: Callable[[Webhooks], T]) -> T:
    try:
        with _webhooks() as webhooks:
            return command(webhooks)
    except DomainError as err:
        typer.echo(f"refused: {err}", err=True)
        raise typer.Exit(2) from None


def endpoints(ledger: PayoutLedger) -> Iterator[WebhookEndpoint]:
    """Every endpoint, in the order registered, from the ledger itself (no projector)."""
    start, topics = 1, list(topics_of(WebhookEndpoint.Created))
    while True:
        found = ledger.recorder.select_notifications(start=start, limit=500, topics=topics)
        for note in found:
            yield ledger.get_webhook_endpoint(UUID(str(note.originator_id)))
        if len(found) < 500:
            return
        start = found[-1].id + 1


@app.command("create")
def create(url: Annotated[str, typer.Option(help="http(s) URL that receives the POSTs")],
           event_type: Annotated[list[str], typer.Option(
               help=f"repeat for each; one of {', '.join(EVENT_TYPES)}")],
           actor: Actor, description: Annotated[str, typer.Option()] = "") -> None:
    """Register an endpoint and print its signing secret, this once."""
    made = _run(lambda w: w.create(url=url, event_types=event_type, description=description,
                                   actor=actor))
    typer.echo(f"endpoint {made.endpoint_id} (position {made.position}); signing secret,"
               " shown once:")
    typer.echo(made.secret)


@app.command("list")
def list_() -> None:
    """Endpoints, their event types and state (never their secrets)."""
    def show(webhooks: Webhooks) -> None:
        for e in endpoints(webhooks.ledger):
            state = "active" if e.active else f"disabled ({e.disabled_reason})"
            typer.echo(f"{e.id}  {e.url}  {','.join(e.event_types)}  {state}"
                       f"  {e.description}".rstrip())
    _run(show)


@app.command("disable")
def disable(endpoint_id: EndpointId, actor: Actor,
            reason: Annotated[str, typer.Option(help="why (recorded)")] = "") -> None:
    """Stop deliveries to it; its events wait until it is enabled."""
    position = _run(lambda w: w.disable(endpoint_id, actor, reason))
    typer.echo(f"disabled {endpoint_id} (position {position})")


@app.command("enable")
def enable(endpoint_id: EndpointId, actor: Actor) -> None:
    """Resume deliveries, oldest first."""
    position = _run(lambda w: w.enable(endpoint_id, actor))
    typer.echo(f"enabled {endpoint_id} (position {position})")


@app.command("rotate-secret")
def rotate_secret(endpoint_id: EndpointId, actor: Actor) -> None:
    """Print a new signing secret, this once; the old one also signs during the grace
    period (MASS_PAYOUT_WEBHOOK_SECRET_GRACE_HOURS)."""
    made = _run(lambda w: w.rotate_secret(endpoint_id, actor))
    typer.echo(f"rotated {endpoint_id} (position {made.position}); the previous secret also"
               f" signs until {made.previous_valid_until:%Y-%m-%d %H:%M:%S} UTC; new signing"
               " secret, shown once:")
    typer.echo(made.secret)


@app.command("deliver")
def deliver(interval: Annotated[float, typer.Option(help="seconds idle between passes")] = 0.5,
            workers: Annotated[int, typer.Option(min=1, max=64)] = 8,
            once: Annotated[bool, typer.Option(help="one pass, then exit")] = False) -> None:
    """The delivery loop (needs DATABASE_URL; `mass-payout project` fills the outbox). It
    also prunes, hourly, the attempts of events delivered longer ago than
    MASS_PAYOUT_WEBHOOK_RETENTION_DAYS."""
    import time

    import psycopg
    from eventsourcing.persistence import PersistenceError

    from mass_payout.processes import stop_on_sigterm
    from runtime.bootstrap import build_webhook_deliverer
    from runtime.settings import ConfigurationError, Settings

    settings = Settings.from_env()
    if not settings.database_url:
        raise ConfigurationError("set DATABASE_URL (the outbox the projector fills)")
    deliverer = build_webhook_deliverer(settings, settings.database_url,
                                        pool_size=workers + 1)
    stop = stop_on_sigterm()
    retention = timedelta(days=settings.webhook_retention_days)
    pruned_at = -PRUNE_EVERY  # at start, then hourly
    try:
        while not stop.is_set():
            try:
                if time.monotonic() - pruned_at >= PRUNE_EVERY:
                    pruned = deliverer.prune(retention)
                    pruned_at = time.monotonic()
                    if pruned:
                        typer.echo(f"pruned {pruned} attempts of events delivered over"
                                   f" {settings.webhook_retention_days} days ago", err=True)
                sent = deliverer.deliver_due(limit=workers * 8, workers=workers)
            except (psycopg.OperationalError, PersistenceError) as err:
                typer.echo(f"database unavailable: {err}; retrying", err=True)
                sent = []
                stop.wait(2.0)
            if once:
                typer.echo(f"{len(sent)} deliveries attempted")
                return
            if not sent:
                stop.wait(interval)
    finally:
        deliverer.close()
