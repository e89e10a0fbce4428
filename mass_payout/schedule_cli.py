"""`mass-payout schedules …`: define and steer schedules from a shell.

The options mirror the REST API's body and are converted into the same application command
(`app.commands.DefineSchedule`) and handler, so the CLI and the API accept and refuse the
same things. A refusal is one line on stderr and exit code 2; nothing is recorded.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, TypeVar
from uuid import UUID

import msgspec
import typer

from app.ledger import PayoutLedger
from domain.errors import DomainError
from domain.schedule import MissedPolicy
from domain.terms import DistributionKind, Recurrence, RuleKind

T = TypeVar("T")

Actor = Annotated[str, typer.Option(help="who acts (recorded in the ledger's events)")]
Reason = Annotated[str, typer.Option(help="why (recorded)")]
ScheduleId = Annotated[UUID, typer.Argument(help="the schedule's id")]


@contextmanager
def _ledger() -> Iterator[PayoutLedger]:
    from runtime.engines import ledger_session
    from runtime.settings import Settings

    with ledger_session(Settings.from_env()) as ledger:
        yield ledger


def _run(command: Callable[[PayoutLedger], T]) -> T:
    """Run one ledger command; the ledger's refusals end the process with one line."""
    try:
        with _ledger() as ledger:
            return command(ledger)
    except (DomainError, msgspec.ValidationError) as err:
        typer.echo(f"refused: {err}", err=True)
        raise typer.Exit(2) from None


def _option_named(message: str) -> str:
    """msgspec names the body's field (`$.rule.value`); the user typed an option."""
    def option(found: re.Match[str]) -> str:
        path = [p for p in found.group(1).split(".") if p != "cadence"]
        return "--" + "-".join(path).replace("_", "-")

    return re.sub(r"- at `\$\.([a-z_.]+)`", lambda m: f"({option(m)})", message)


def register(app: typer.Typer) -> None:
    schedules = typer.Typer(no_args_is_help=True,
                            help="Schedules: recurring or corporate-action distributions.")
    app.add_typer(schedules, name="schedules")

    @schedules.command("create")
    def create(
        asset_id: Annotated[UUID, typer.Option(help="the asset paid")],
        key: Annotated[str, typer.Option(help="the schedule's key (idempotent)")],
        actor: Actor,
        kind: Annotated[DistributionKind, typer.Option()] = DistributionKind.DIVIDEND,
        rule_kind: Annotated[RuleKind | None, typer.Option(help="RECURRING only")] = None,
        rule_value: Annotated[str | None, typer.Option(
            help="integer, smallest units (bps for PERCENTAGE)")] = None,
        recurrence: Annotated[Recurrence | None, typer.Option()] = None,
        start: Annotated[str | None, typer.Option(help="ISO 8601 with a timezone")] = None,
        end: Annotated[str | None, typer.Option(help="exclusive; or --count")] = None,
        count: Annotated[int | None, typer.Option(help="occurrences; or --end")] = None,
        on_corporate_actions: Annotated[bool, typer.Option(
            help="pay each dividend/coupon the token declares (no rule, no recurrence)")]
            = False,
        missed_policy: Annotated[MissedPolicy, typer.Option()] = MissedPolicy.RUN_LATEST,
        misfire_grace_seconds: Annotated[int, typer.Option()] = 60,
        withholding_bps: Annotated[int, typer.Option()] = 0,
        concept: Annotated[str, typer.Option()] = "",
    ) -> None:
        """Define a schedule; another actor must approve it before it spawns anything."""
        from app import commands

        cadence: dict[str, Any] = {"recurrence": recurrence, "start": start, "end": end,
                                   "count": count}
        if on_corporate_actions:
            cadence["trigger"] = "ON_CORPORATE_ACTION_DATE"
        rule = None if rule_kind is None and rule_value is None \
            else {"kind": rule_kind, "value": rule_value}
        request = {"asset_id": str(asset_id), "kind": kind, "rule": rule, "cadence": cadence,
                   "missed_policy": missed_policy,
                   "misfire_grace_seconds": misfire_grace_seconds,
                   "withholding_bps": withholding_bps, "concept": concept}

        def define(ledger: PayoutLedger) -> tuple[UUID, int, bool]:
            try:
                body = msgspec.convert(request, commands.DefineSchedule)
            except msgspec.ValidationError as err:
                raise msgspec.ValidationError(_option_named(str(err))) from None
            return commands.define_schedule(ledger, body, key, actor)

        schedule_id, _, created = _run(define)
        typer.echo(f"schedule {schedule_id} " + ("defined: pending approval" if created
                                                 else "already defined with this key"))

    @schedules.command("list")
    def list_(asset_id: Annotated[UUID | None, typer.Option()] = None) -> None:
        """Every schedule, in the order defined."""
        from app.schedules import schedules_page, view

        found, _ = _run(lambda ledger: schedules_page(ledger, asset_id=asset_id, after=0,
                                                      limit=10**9))
        if not found:
            typer.echo("no schedules" + (f" for asset {asset_id}" if asset_id else "")
                       + " (create one: POST /schedules, or the panel)")
        for s in map(view, found):
            c = s.cadence
            cadence = c.trigger or f"{c.recurrence} from {c.start:%Y-%m-%dT%H:%MZ}" + (
                f" x{c.count}" if c.count else f" until {c.end:%Y-%m-%dT%H:%MZ}")
            typer.echo(f"{s.schedule_id}  {s.status:<16} {s.key}  {cadence}"
                       f"  spawned {s.spawned}, missed {s.missed}")

    @schedules.command("show")
    def show(schedule_id: ScheduleId) -> None:
        """One schedule as JSON (the API's body): its occurrences and the missed ones."""
        from app.schedules import detail

        found = _run(lambda ledger: detail(ledger.get_schedule(schedule_id)))
        typer.echo(msgspec.json.format(msgspec.json.encode(found), indent=2))

    def recorded(position: int) -> None:
        typer.echo(f"recorded at ledger position {position}")

    @schedules.command("approve")
    def approve(schedule_id: ScheduleId, actor: Actor) -> None:
        """Approve (four eyes: not the actor who defined it)."""
        recorded(_run(lambda ledger: ledger.approve_schedule(schedule_id, actor)))

    @schedules.command("pause")
    def pause(schedule_id: ScheduleId, actor: Actor, reason: Reason) -> None:
        """Stop spawning until resumed."""
        recorded(_run(lambda ledger: ledger.pause_schedule(schedule_id, actor, reason)))

    @schedules.command("resume")
    def resume(schedule_id: ScheduleId, actor: Actor) -> None:
        """Resume; occurrences due meanwhile follow the missed policy."""
        recorded(_run(lambda ledger: ledger.resume_schedule(schedule_id, actor)))

    @schedules.command("cancel")
    def cancel(schedule_id: ScheduleId, actor: Actor, reason: Reason) -> None:
        """No further occurrences; spawned distributions go on."""
        recorded(_run(lambda ledger: ledger.cancel_schedule(schedule_id, actor, reason)))
