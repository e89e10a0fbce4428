"""`mass-payout keys` on a real PostgreSQL schema, against an API built as `serve` builds it:
keys belong to principals, list shows no secret, rotation and revocation take effect on the
next request of an API that is already running, and expired keys are refused."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

import pytest
import typer
from litestar.testing import TestClient
from typer.testing import CliRunner

from api.keys import VIEW, Role, create_key
from mass_payout import keys_cli
from runtime.bootstrap import build_api
from runtime.settings import Settings


@pytest.fixture
def cli(monkeypatch, database_url, schema):
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("MASS_PAYOUT_SCHEMA", schema)
    app = typer.Typer()
    keys_cli.register(app)
    runner = CliRunner()
    return lambda *args: runner.invoke(app, ["keys", *args])


def made(result) -> tuple[str, str]:
    """(key id, key) from what `create` or `rotate` printed."""
    assert result.exit_code == 0, result.output
    key_id = re.search(r"key id (\S+)", result.stdout).group(1)  # type: ignore[union-attr]
    return key_id, result.stdout.strip().splitlines()[-1]


def listening(client: TestClient) -> None:
    """Wait until the app hears announcements (until then it caches no key at all)."""
    deadline = time.monotonic() + 10
    while not client.app.state.reads._listening:
        assert time.monotonic() < deadline, "the read models' listener did not connect"
        time.sleep(0.02)


def heard(client: TestClient, key: str) -> None:
    """Wait (bounded) until the app has heard the announcement: milliseconds, the delivery of
    one NOTIFY; the test must not race it on a loaded machine."""
    deadline = time.monotonic() + 5
    while key in client.app.state.reads._cache[VIEW]:
        assert time.monotonic() < deadline, "the revocation was not heard within 5 s"
        time.sleep(0.001)


def test_keys_are_listed_rotated_and_revoked_on_the_next_request(cli):
    # Created for a principal: the id and the key, shown once.
    alice_id, alice = made(cli("create", "--principal", "alice", "--role", "viewer"))
    with TestClient(build_api(Settings.from_env())) as client:
        listening(client)
        get = lambda key: client.get("/schedules", headers={"X-API-Key": key}).status_code  # noqa: E731
        assert get(alice) == 200
        assert alice in client.app.state.reads._cache[VIEW]  # verified once, then cached
        # Listed with its principal and role; the secret appears nowhere.
        listed = cli("list")
        assert listed.exit_code == 0
        row = next(line for line in listed.stdout.splitlines() if line.startswith(alice_id))
        assert row.split("\t")[1:3] == ["alice", "viewer"] and row.endswith("no")
        assert alice.split("_")[2] not in listed.stdout
        # Rotated: a new key for alice, and the cached old one is refused by the next request.
        new_id, new = made(cli("rotate", alice_id))
        heard(client, alice)
        assert (get(alice), get(new)) == (401, 200)
        assert f"{new_id}\talice\tviewer" in cli("list").stdout
        # Revoked: once the announcement is heard (no 5 s of grace any more), refused by the
        # next request of this already running API.
        assert new in client.app.state.reads._cache[VIEW]
        assert cli("revoke", new_id).exit_code == 0
        heard(client, new)
        assert get(new) == 401
    # Refusals: one line on stderr, exit code 2.
    again = cli("revoke", new_id)
    assert again.exit_code == 2 and again.stderr == f"refused: no active key {new_id}\n"
    rotated = cli("rotate", alice_id)
    assert rotated.exit_code == 2 and rotated.stderr == f"refused: no active key {alice_id}\n"
    bad = cli("create", "--principal", "eve/key:x", "--role", "admin")
    assert bad.exit_code == 2 and bad.stderr.startswith("refused: principal 'eve/key:x'")
    assert len(bad.stderr.splitlines()) == 1


def test_an_expired_key_is_refused(cli, database_url, schema):
    # One key with days to live, one whose time is up.
    _, fresh = made(cli("create", "--principal", "svc", "--role", "viewer", "--expires-in", "7"))
    _, stale = create_key(database_url, schema, Role.VIEWER, principal="svc",
                          expires_at=datetime.now(UTC) - timedelta(seconds=1))
    expires = cli("list").stdout.splitlines()[1:]
    assert all(line.split("\t")[4] != "-" for line in expires)
    with TestClient(build_api(Settings.from_env())) as client:
        assert client.get("/schedules", headers={"X-API-Key": fresh}).status_code == 200
        refused = client.get("/schedules", headers={"X-API-Key": stale})
        assert refused.status_code == 401 and refused.json()["detail"] == "expired API key"
