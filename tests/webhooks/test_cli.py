"""`mass-payout webhooks` on a real PostgreSQL schema: create prints the secret once, list,
disable and enable record events, bad input is one line and exit 2, and `deliver --once`
sends what the outbox holds."""

from __future__ import annotations

import json
import time
from uuid import UUID

import pytest
from typer.testing import CliRunner

from app.webhooks import verify
from devtools import payout_story as story
from mass_payout.cli import app


@pytest.fixture
def cli(monkeypatch, database_url, schema):
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("MASS_PAYOUT_SCHEMA", schema)
    monkeypatch.setenv("MASS_PAYOUT_WEBHOOK_ALLOW", "127.0.0.1")
    runner = CliRunner()
    return lambda *args: runner.invoke(app, ["webhooks", *args])


def test_the_cli_manages_endpoints_and_delivers(cli, ledger, receiver, outbox):
    # Bad input: one line on stderr, exit 2, nothing recorded.
    refused = cli("create", "--url", "http://10.0.0.1/x", "--event-type",
                  "distribution.created", "--actor", "ops")
    assert refused.exit_code == 2 and refused.stderr.startswith("refused:")
    assert cli("create", "--url", receiver.url, "--event-type", "nope", "--actor",
               "ops").exit_code == 2
    # Create prints the id and the secret, once.
    made = cli("create", "--url", receiver.url, "--event-type", "distribution.created",
               "--actor", "ops", "--description", "treasury")
    assert made.exit_code == 0, made.output
    endpoint_id = made.stdout.split()[1]
    secret = made.stdout.strip().splitlines()[-1]
    assert secret.startswith("whsec_")
    listed = cli("list")
    assert endpoint_id in listed.stdout and "active" in listed.stdout
    assert secret not in listed.stdout
    # Disabled (twice is refused) and enabled: events in the ledger, by the CLI's actor.
    assert cli("disable", endpoint_id, "--actor", "ops", "--reason", "maintenance"
               ).exit_code == 0
    assert "disabled (maintenance)" in cli("list").stdout
    assert cli("disable", endpoint_id, "--actor", "ops").exit_code == 2
    assert cli("enable", endpoint_id, "--actor", "ops").exit_code == 0
    assert ledger.get_webhook_endpoint(UUID(endpoint_id)).active
    # The delivery loop's one pass sends the outbox's due event, signed.
    ledger.create_distribution(asset_id=story.import_asset(ledger), idempotency_key="k",
                               terms=story.sample_terms(), actor="maker")
    outbox.catch_up()
    sent = cli("deliver", "--once")
    assert sent.exit_code == 0, sent.output
    [request] = receiver.received
    assert json.loads(request.body)["type"] == "distribution.created"
    assert verify(secret, request.headers["Webhook-Signature"], request.body, time.time())
    # rotate-secret prints a new secret once; the rotation is recorded by the CLI's actor,
    # and an unknown endpoint is one line and exit 2.
    rotated = cli("rotate-secret", endpoint_id, "--actor", "ops")
    assert rotated.exit_code == 0, rotated.output
    new_secret = rotated.stdout.strip().splitlines()[-1]
    assert new_secret.startswith("whsec_") and new_secret != secret
    assert ledger.get_webhook_endpoint(UUID(endpoint_id)).previous_version == 1
    unknown = cli("rotate-secret", str(UUID(int=1)), "--actor", "ops")
    assert unknown.exit_code == 2 and unknown.stderr.startswith("refused:")
