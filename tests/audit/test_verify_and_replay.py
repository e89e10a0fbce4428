"""`audit verify` (conservation from the ledger) and `audit replay` (every read model rebuilt
into a fresh schema equals the live one), through their functions and the CLI."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import sql
from typer.testing import CliRunner

from app.audit_verify import audit_distributions
from devtools import payout_story as story
from domain.planning import GasModel
from mass_payout.cli import app as cli
from projections.registry import open_all
from projections.replay import replay
from tests.projections.conftest import projector, views  # noqa: F401  # fixtures

SMALL = GasModel(per_leaf=1_000_000, budget=12_000_000)  # 11 leaves per batch


@pytest.fixture
def paid(ledger):
    asset = story.import_asset(ledger)
    did = story.snapshotted(ledger, asset, 60, gas_model=SMALL)
    story.execute(ledger, did, fail_every=7, retry=False)  # some holders left failed
    story.snapshotted(ledger, asset, 12, key="second")  # one not yet committed
    return did


@pytest.fixture
def run(database_url, schema, monkeypatch):
    """`mass-payout …` on the test's schema; returns (exit code, output)."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("MASS_PAYOUT_SCHEMA", schema)
    monkeypatch.delenv("RPC_URL", raising=False)

    def invoke(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(cli, list(args))
        return result.exit_code, result.output
    return invoke


def test_every_distribution_is_conserved(ledger, paid, run):
    audits = list(audit_distributions(ledger))
    assert len(audits) == 2
    assert all(a.ok for a in audits), [a.differences for a in audits]
    first = audits[0]
    assert first.net + first.withheld + first.dust + first.skipped == first.gross
    assert 0 < first.ledger_paid < first.net  # the failed holders are not paid
    # The CLI says the same, and exits 0
    code, out = run("audit", "verify", "--csv")
    assert code == 0, out
    lines = out.strip().splitlines()
    assert lines[0].startswith("distribution_id,status,holders,gross,net,withheld,dust")
    assert len(lines) == 3


def test_an_edited_entitlement_fails_verify_and_verify_log(ledger, paid, database_url,
                                                           schema, reopen, run):
    # Someone raises one holder's withheld amount in the stored batch event
    holder = ledger.get_batch(paid, 0).holders[1]
    old = f'"{holder.account}",{holder.balance},{holder.gross},{holder.withheld},'
    new = f'"{holder.account}",{holder.balance},{holder.gross},{holder.withheld + 1},'
    with psycopg.connect(database_url, autocommit=True) as conn:
        changed = conn.execute(sql.SQL(
            "UPDATE {} SET state = convert_to(replace(convert_from(state, 'UTF8'), %s, %s),"
            " 'UTF8') WHERE position(convert_to(%s, 'UTF8') in state) > 0 RETURNING"
            " notification_id").format(sql.Identifier(schema, "payoutledger_events")),
            (old, new, old)).fetchall()
    assert len(changed) == 1
    # A fresh ledger (nothing cached) finds the distribution no longer adds up
    audit = next(iter(audit_distributions(reopen(), only=[paid])))
    assert not audit.ok
    assert any("withheld" in d for d in audit.differences)
    code, out = run("audit", "verify", "--distribution", str(paid))
    assert code == 1 and "MISMATCH" in out
    # and the chain names the edited event
    code, out = run("audit", "verify-log")
    assert code == 1
    assert f"BROKEN at position {changed[0][0]}" in out


def test_replay_reproduces_every_read_model(ledger, paid, projector, database_url, schema,  # noqa: F811
                                            run):
    head = ledger.recorder.max_notification_id()
    for runner in projector:
        runner.store.wait(application_name="PayoutLedger", notification_id=head)
    report = replay(ledger, database_url, schema)
    assert report.ok, [t for t in report.tables if not t.ok]
    assert {t.table for t in report.tables} >= {"distributions", "distribution_holders",
                                                "batches", "assets"}
    assert all(t.position == head for t in report.tables)
    # The fresh schema is gone afterwards
    with psycopg.connect(database_url) as conn:
        left = conn.execute("SELECT count(*) FROM pg_namespace WHERE nspname LIKE %s",
                            (f"{schema}__replay%",)).fetchone()
    assert left == (0,)
    code, out = run("audit", "replay")
    assert code == 0, out
    assert "IDENTICAL" in out


def test_replay_names_a_row_edited_in_a_read_model(ledger, paid, projector, database_url,  # noqa: F811
                                                   schema, run):
    head = ledger.recorder.max_notification_id()
    for runner in projector:
        runner.store.wait(application_name="PayoutLedger", notification_id=head)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("UPDATE {} SET net = net + 1 WHERE distribution_id = %s"
                             " AND position = 3").format(
            sql.Identifier(f"{schema}_views", "distribution_holders")), (paid,))
    report = replay(ledger, database_url, schema)
    bad = [t for t in report.tables if not t.ok]
    assert [t.table for t in bad] == ["distribution_holders"]
    assert [r["position"] for r in bad[0].only_live] == [3]
    assert [r["position"] for r in bad[0].only_fresh] == [3]
    assert bad[0].only_live[0]["net"] == bad[0].only_fresh[0]["net"] + 1
    code, out = run("audit", "replay")
    assert code == 1 and "MISMATCH distribution_holders" in out


def test_replay_of_read_models_not_started_yet_compares_them_at_zero(ledger, views,  # noqa: F811
                                                                      database_url, schema):
    # An asset is imported: the ledger's first event
    story.import_asset(ledger)
    # The read models' tables exist (the projector opened them) but nothing was projected:
    # their ledger position is 0, beside the library's own `__migration__` row at 1
    open_all(views)
    # The replay compares them at 0, where neither copy has the asset yet
    report = replay(ledger, database_url, schema)
    assert report.ok, [t for t in report.tables if not t.ok]
    assert {t.position for t in report.tables} == {0}
