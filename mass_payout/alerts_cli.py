"""`mass-payout alerts email`: the dashboard's "needs a person" items (web.attention) mailed
to an operator (MASS_PAYOUT_ALERT_EMAIL_TO over MASS_PAYOUT_SMTP_HOST), at most once an hour
per item (app.email_alerts). Runs beside the API: it reads the same read models."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

app = typer.Typer(no_args_is_help=True, help="Operator alerts outside the panel.")


@app.command("email")
def email(interval: Annotated[float, typer.Option(help="seconds between passes")] = 60.0,
          once: Annotated[bool, typer.Option(help="one pass, then exit")] = False) -> None:
    """Mail what needs a person now; again each hour while it still does."""
    from api.reads import ReadModels
    from app.email_alerts import EmailAlerts, Mailbox
    from app.redaction import register as register_secret
    from mass_payout.processes import stop_on_sigterm
    from runtime.bootstrap import protect_secrets
    from runtime.settings import ConfigurationError, Settings
    from web.attention import items

    settings = Settings.from_env()
    if not (settings.database_url and settings.smtp_host and settings.alert_email_to):
        raise ConfigurationError("set DATABASE_URL, MASS_PAYOUT_SMTP_HOST and"
                                 " MASS_PAYOUT_ALERT_EMAIL_TO")
    protect_secrets(settings)
    password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
    register_secret(password)  # never in a log line (an SMTP error may echo it)
    alerts = EmailAlerts(Mailbox(settings.smtp_host, settings.alert_email_to,
                                 settings.alert_email_from, settings.smtp_port,
                                 settings.smtp_username, password),
                         settings.database_url, settings.schema)
    stop = stop_on_sigterm()

    async def no_lag() -> dict[str, int]:
        return {}  # the chain's head is the API's to read; lag items stay on the panel

    async def one_pass() -> int:
        reads = ReadModels(settings.database_url or "", settings.schema, pool_size=1)
        await reads.open()
        try:
            return await alerts.send_due(await items(reads, no_lag))
        finally:
            await reads.close()

    while not stop.is_set():
        sent = asyncio.run(one_pass())
        if once:
            typer.echo(f"{sent} alerts mailed")
            return
        stop.wait(interval)
