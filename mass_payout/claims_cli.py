"""`mass-payout claims export ID`: every unpaid holder's claim as one JSON document.

The document follows the merkle-distributor convention (`merkleRoot`, `tokenTotal`, `claims`
keyed by account with `index`, hex `amount` and `proof`), so an issuer can publish it and any
claim page built for that format works with the vault. A refusal (unknown distribution,
nothing claimable) is one line on stderr and exit code 1.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated
from uuid import UUID

import typer

app = typer.Typer(no_args_is_help=True, help="Claims of holders whose push payment did not"
                  " arrive (the vault's pull fallback).")


@app.command("export")
def export(distribution_id: Annotated[UUID, typer.Argument(help="the distribution")],
           out: Annotated[Path | None, typer.Option(
               "--out", help="write here (default: stdout)")] = None) -> None:
    """Write every unpaid holder's claim: leaf, amount and Merkle proof."""
    from app.claims import export_document
    from domain.errors import DomainError
    from runtime.engines import database, open_ledger
    from runtime.settings import Settings

    settings = Settings.from_env()
    with database(settings) as url:
        ledger = open_ledger(url, settings.schema)
        try:
            document = export_document(ledger, distribution_id, datetime.now(UTC))
        except DomainError as err:
            typer.echo(f"refused: {err}", err=True)
            raise typer.Exit(1) from None
        finally:
            ledger.close()
    text = json.dumps(document, indent=1)
    if out is None:
        print(text)
        return
    out.write_text(text + "\n")
    typer.echo(f"{len(document['claims'])} claims, {int(document['tokenTotal'], 16)} units in"
               f" total, written to {out}", err=True)
