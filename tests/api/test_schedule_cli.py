"""`mass-payout schedules …` on a real PostgreSQL schema, through typer's runner."""

from __future__ import annotations

import json
from uuid import UUID

import pytest
import typer
from typer.testing import CliRunner

from devtools import payout_story as story
from mass_payout import schedule_cli


@pytest.fixture
def cli(monkeypatch, database_url, schema):
    """A local app with only the schedules commands, on the test's schema."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("MASS_PAYOUT_SCHEMA", schema)
    app = typer.Typer()
    schedule_cli.register(app)
    runner = CliRunner()
    return lambda *args: runner.invoke(app, ["schedules", *args])


HOURLY = ["--recurrence", "HOURLY", "--start", "2026-07-01T00:00:00Z", "--count", "24",
          "--rule-kind", "PRO_RATA", "--rule-value", "1000000"]


def test_a_schedule_is_defined_approved_paused_resumed_and_cancelled(cli, ledger):
    asset_id = story.import_asset(ledger)
    # Defined once; the same command again finds it.
    made = cli("create", "--asset-id", str(asset_id), "--key", "hourly", "--actor", "alice",
               *HOURLY)
    assert made.exit_code == 0, made.output
    schedule_id = UUID(made.stdout.split()[1])
    again = cli("create", "--asset-id", str(asset_id), "--key", "hourly", "--actor", "alice",
                *HOURLY)
    assert again.exit_code == 0 and "already defined" in again.stdout
    # Its definer may not approve it; another actor does.
    refused = cli("approve", str(schedule_id), "--actor", "alice")
    assert refused.exit_code == 2 and refused.stderr.startswith("refused: alice created")
    assert "Traceback" not in refused.output
    for args in (["approve", "--actor", "bob"], ["pause", "--actor", "ops", "--reason", "audit"],
                 ["resume", "--actor", "ops"], ["cancel", "--actor", "bob", "--reason", "done"]):
        done = cli(args[0], str(schedule_id), *args[1:])
        assert done.exit_code == 0 and "recorded at ledger position" in done.stdout, done.output
    schedule = ledger.get_schedule(schedule_id)
    assert (schedule.status, schedule.approved_by) == ("CANCELLED", "bob")
    # Show and list read it back.
    shown = json.loads(cli("show", str(schedule_id)).stdout)
    assert (shown["status"], shown["key"], shown["cadence"]["count"]) == ("CANCELLED", "hourly",
                                                                           24)
    listed = cli("list", "--asset-id", str(asset_id)).stdout.splitlines()
    assert len(listed) == 1 and listed[0].startswith(f"{schedule_id}  CANCELLED")
    # A cancelled schedule cannot be resumed: one line, exit code 2.
    late = cli("resume", str(schedule_id), "--actor", "ops")
    assert late.exit_code == 2 and late.stderr.count("\n") == 1


def test_corporate_action_schedules_and_refusals(cli, ledger):
    asset_id = story.import_asset(ledger)
    base = ["create", "--asset-id", str(asset_id), "--actor", "alice"]
    made = cli(*base, "--key", "dividends", "--on-corporate-actions", "--missed-policy", "SKIP")
    assert made.exit_code == 0, made.output
    shown = json.loads(cli("show", made.stdout.split()[1]).stdout)
    assert (shown["cadence"]["trigger"], shown["missed_policy"]) \
        == ("ON_CORPORATE_ACTION_DATE", "SKIP")
    head = ledger.recorder.max_notification_id()
    # Refusals are one line and exit code 2, and record nothing.
    for args in (
        [*HOURLY, "--end", "2026-08-01T00:00:00Z"],  # both end and count
        [*HOURLY[:6]],  # no rule
        [*HOURLY[:4], "--rule-kind", "PRO_RATA", "--rule-value", "1.5"],  # not an integer
        [*HOURLY[:4], "--count", "0", *HOURLY[6:]],
        ["--on-corporate-actions", *HOURLY],
    ):
        refused = cli(*base, "--key", "bad", *args)
        assert refused.exit_code == 2, (args, refused.output)
        assert refused.stderr.startswith("refused: ") and refused.stderr.count("\n") == 1
    assert cli("show", "00000000-0000-0000-0000-000000000000").exit_code == 2
    assert ledger.recorder.max_notification_id() == head
