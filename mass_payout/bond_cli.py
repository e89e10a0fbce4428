"""`mass-payout bonds …`: a bond's coupon terms and its coupon schedule from a shell.

The options are converted into the API's own commands (`app.bonds`) and run by the same
handlers, so both accept and refuse the same input; a refusal is one line naming the field
on stderr and exit code 2, and nothing is recorded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated
from uuid import UUID

import msgspec
import typer

from mass_payout.schedule_cli import Actor, _option_named, _run

if TYPE_CHECKING:
    from app.ledger import PayoutLedger

AssetId = Annotated[UUID, typer.Argument(help="the bond's asset id")]


def register(app: typer.Typer) -> None:
    bonds = typer.Typer(no_args_is_help=True, help="Bonds: coupon terms, coupon schedule.")
    app.add_typer(bonds, name="bonds")

    @bonds.command("terms")
    def terms(
        asset_id: AssetId, actor: Actor,
        coupon_rate: Annotated[str, typer.Option(help="annual, a decimal: 0.05 is 5 %")],
        frequency: Annotated[str, typer.Option(
            help="MONTHLY, QUARTERLY, SEMI_ANNUAL, ANNUAL or months")],
        day_count: Annotated[str, typer.Option(
            help="ACT_360, ACT_365F, THIRTY_360_US, THIRTY_360_BOND_BASIS, ACT_ACT_ICMA")],
        issue_date: Annotated[str, typer.Option(help="YYYY-MM-DD")],
        first_coupon_date: Annotated[str | None, typer.Option(help="YYYY-MM-DD")] = None,
        end_of_month: Annotated[bool, typer.Option()] = False,
        nominal_value: Annotated[str | None, typer.Option(
            help="smallest payment units per whole token (default: the token's)")] = None,
        maturity_date: Annotated[str | None, typer.Option(
            help="YYYY-MM-DD (default: the token's)")] = None,
        reason: Annotated[str, typer.Option(help="why (recorded)")] = "",
    ) -> None:
        """Record the bond's coupon terms (BondTermsUpdated, with actor and reason)."""
        from app import bonds as commands

        request = {"coupon_rate": coupon_rate, "frequency": frequency, "day_count": day_count,
                   "issue_date": issue_date, "first_coupon_date": first_coupon_date,
                   "end_of_month": end_of_month, "nominal_value": nominal_value,
                   "maturity_date": maturity_date, "reason": reason}

        def record(ledger: PayoutLedger) -> int:
            try:
                body = msgspec.convert(request, commands.SetBondTerms)
            except msgspec.ValidationError as err:
                raise msgspec.ValidationError(_option_named(str(err))) from None
            return commands.set_bond_terms(ledger, asset_id, body, actor)

        typer.echo(f"bond terms recorded (ledger position {_run(record)})")

    @bonds.command("coupon-schedule")
    def coupon_schedule(
        asset_id: AssetId, actor: Actor,
        key: Annotated[str, typer.Option(help="the schedule's key (idempotent)")] = "coupons",
        withholding_bps: Annotated[int, typer.Option()] = 0,
        concept: Annotated[str, typer.Option()] = "",
    ) -> None:
        """One schedule paying every coupon from the bond's terms; another actor approves."""
        from app import bonds as commands

        request = {"key": key, "withholding_bps": withholding_bps, "concept": concept}

        def define(ledger: PayoutLedger) -> tuple[UUID, int, bool]:
            body = msgspec.convert(request, commands.DefineCouponSchedule)
            return commands.define_coupon_schedule(ledger, asset_id, body, actor)

        schedule_id, _, created = _run(define)
        typer.echo(f"coupon schedule {schedule_id} " + (
            "defined: pending approval" if created else "already defined with this key"))
