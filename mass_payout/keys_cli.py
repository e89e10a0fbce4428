"""`mass-payout keys create | revoke`: API keys, stored hashed, one role each."""

from __future__ import annotations

from typing import Annotated

import typer

from api.keys import Role


def register(app: typer.Typer) -> None:
    keys = typer.Typer(no_args_is_help=True, help="API keys (stored hashed, one role each).")
    app.add_typer(keys, name="keys")

    @keys.command("create")
    def create(role: Annotated[Role, typer.Option(help="viewer | operator | approver | admin")],
               name: Annotated[str, typer.Option(help="a label for the key")] = "") -> None:
        """Create a key and print it once (only its salted digest is stored)."""
        from api.keys import create_key
        from runtime.engines import database
        from runtime.settings import Settings

        settings = Settings.from_env()
        with database(settings) as url:
            key_id, key = create_key(url, settings.schema, role, name)
        typer.echo(f"key id {key_id} ({role.value}); the key, shown once:\n{key}")

    @keys.command("revoke")
    def revoke(key_id: Annotated[str, typer.Argument(help="the key's id (printed at creation)")],
               ) -> None:
        """Revoke a key: the API refuses it from then on."""
        from api.keys import revoke_key
        from runtime.engines import database
        from runtime.settings import Settings

        settings = Settings.from_env()
        with database(settings) as url:
            found = revoke_key(url, settings.schema, key_id)
        if not found:
            typer.echo(f"refused: no active key {key_id}", err=True)
            raise typer.Exit(2)
        typer.echo(f"key {key_id} revoked")
