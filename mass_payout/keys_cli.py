"""`mass-payout keys create | list | revoke | rotate`: API keys, stored hashed, one role and
one principal (the person or service answering for them) each.

Refusals are one line on stderr and exit code 2, like every other command's.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer

from api.keys import Role


@contextmanager
def _store() -> Iterator[tuple[str, str]]:
    """(database url, schema), for the duration of one command: DATABASE_URL's, the one
    `serve` reads keys from. Never the embedded PostgreSQL, which `serve` does not use: a key
    stored there would be refused by every API (a ConfigurationError, one line, exit 2)."""
    from runtime.settings import ConfigurationError, Settings

    settings = Settings.from_env()
    if not settings.database_url:
        raise ConfigurationError("set DATABASE_URL to the API's database: keys are stored"
                                 " where `serve` reads them (it has no embedded PostgreSQL)")
    yield settings.database_url, settings.schema


def _refuse(reason: str) -> typer.Exit:
    typer.echo(f"refused: {reason}", err=True)
    return typer.Exit(2)


def _when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if moment else "-"


def register(app: typer.Typer) -> None:
    keys = typer.Typer(no_args_is_help=True,
                       help="API keys (stored hashed; one role and one principal each).")
    app.add_typer(keys, name="keys")

    @keys.command("create")
    def create(principal: Annotated[str, typer.Option(
                   help="the person or service the key belongs to (four eyes compare these)")],
               role: Annotated[Role, typer.Option(
                   help="viewer | operator | approver | admin | auditor")],
               expires_in: Annotated[int | None, typer.Option(
                   help="days until the API refuses the key", min=1)] = None) -> None:
        """Create a key and print it once (only its salted digest is stored)."""
        from api.keys import KeyRefused, create_key

        expires = datetime.now(UTC) + timedelta(days=expires_in) if expires_in else None
        try:
            with _store() as (url, schema):
                key_id, key = create_key(url, schema, role, principal=principal,
                                         expires_at=expires)
        except KeyRefused as err:
            raise _refuse(str(err)) from None
        typer.echo(f"key id {key_id} ({principal}, {role.value}, expires {_when(expires)});"
                   f" the key, shown once:\n{key}")

    @keys.command("list")
    def list_() -> None:
        """Every key: id, principal, role, created, expires, revoked (never a secret)."""
        from api.keys import list_keys

        with _store() as (url, schema):
            found = list_keys(url, schema)
        typer.echo("key_id\tprincipal\trole\tcreated\texpires\trevoked")
        for k in found:
            typer.echo(f"{k.key_id}\t{k.principal}\t{k.role.value}\t{_when(k.created_at)}"
                       f"\t{_when(k.expires_at)}\t{'yes' if k.revoked else 'no'}")

    @keys.command("revoke")
    def revoke(key_id: Annotated[str, typer.Argument(help="the key's id (printed at creation)")],
               ) -> None:
        """Revoke a key: every API process refuses it from the next request on."""
        from api.keys import revoke_key

        with _store() as (url, schema):
            found = revoke_key(url, schema, key_id)
        if not found:
            raise _refuse(f"no active key {key_id}")
        typer.echo(f"key {key_id} revoked")

    @keys.command("rotate")
    def rotate(key_id: Annotated[str, typer.Argument(help="the active key to replace")],
               ) -> None:
        """A new key for the same principal and role; the old one is revoked at once."""
        from api.keys import KeyRefused, rotate_key

        try:
            with _store() as (url, schema):
                new_id, key = rotate_key(url, schema, key_id)
        except KeyRefused as err:
            raise _refuse(str(err)) from None
        typer.echo(f"key {key_id} revoked; key id {new_id} replaces it; the key, shown once:"
                   f"\n{key}")
