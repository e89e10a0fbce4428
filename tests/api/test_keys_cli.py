"""`mass-payout keys create | revoke` on a real PostgreSQL schema: a revoked key is refused."""

from __future__ import annotations

import re

import typer
from litestar.testing import TestClient
from typer.testing import CliRunner

from api import auth
from mass_payout import keys_cli
from runtime.bootstrap import build_api
from runtime.settings import Settings


def test_a_key_created_then_revoked_is_refused(monkeypatch, database_url, schema):
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("MASS_PAYOUT_SCHEMA", schema)
    app = typer.Typer()
    keys_cli.register(app)
    runner = CliRunner()
    # Created: the id and the key, shown once.
    made = runner.invoke(app, ["keys", "create", "--role", "viewer", "--name", "alice"])
    assert made.exit_code == 0, made.output
    key_id = re.search(r"key id (\S+)", made.stdout).group(1)  # type: ignore[union-attr]
    key = made.stdout.strip().splitlines()[-1]
    api = build_api(Settings.from_env())  # the API as `mass-payout serve` builds it
    with TestClient(api) as client:
        assert client.get("/schedules", headers={"X-API-Key": key}).status_code == 200
        # Revoked: the API refuses it; revoking again is a one-line refusal.
        assert runner.invoke(app, ["keys", "revoke", key_id]).exit_code == 0
        auth._cache.clear()  # as a new process would: the cache's 5 s are issue #13's
        assert client.get("/schedules", headers={"X-API-Key": key}).status_code == 401
    again = runner.invoke(app, ["keys", "revoke", key_id])
    assert again.exit_code == 2 and again.stderr.startswith("refused: no active key")
