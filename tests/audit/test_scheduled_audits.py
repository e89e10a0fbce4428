"""The scheduler runs `audit verify` after every completion and once a day; each run is an
AuditRun in the ledger, and a mismatch reaches the webhooks outbox, /metrics' source and the
panel's "needs a person" list. Real PostgreSQL, real projections, the ledger's write path."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import psycopg
from psycopg import sql

from api.controllers.audit import latest_audit_runs
from api.reads import ReadModels
from app.audit_runs import ScheduledAudits
from app.commands import head
from app.scheduler import Scheduler
from devtools import payout_story as story
from domain.audit_runs import AuditTrigger, audit_run_id
from domain.planning import GasModel
from projections.store import APPLICATION
from tests.projections.conftest import projector, views  # noqa: F401  # fixtures
from web import attention

SMALL = GasModel(per_leaf=1_000_000, budget=12_000_000)  # 11 leaves per batch
NOW = datetime(2026, 12, 4, 9, 30, tzinfo=UTC)


def _tamper(database_url, schema, ledger, did):
    """Someone raises one holder's withheld amount in the stored batch event."""
    holder = ledger.get_batch(did, 0).holders[1]
    old = f'"{holder.account}",{holder.balance},{holder.gross},{holder.withheld},'
    new = f'"{holder.account}",{holder.balance},{holder.gross},{holder.withheld + 1},'
    with psycopg.connect(database_url, autocommit=True) as conn:
        changed = conn.execute(sql.SQL(
            "UPDATE {} SET state = convert_to(replace(convert_from(state, 'UTF8'), %s, %s),"
            " 'UTF8') WHERE position(convert_to(%s, 'UTF8') in state) > 0").format(
            sql.Identifier(schema, "payoutledger_events")), (old, new, old)).rowcount
    assert changed == 1


async def _seen(database_url, schema):
    reads = ReadModels(database_url, schema)
    await reads.open()
    try:
        async def no_lag():
            return {}
        return await latest_audit_runs(reads), await attention.items(reads, no_lag)
    finally:
        await reads.close()


def test_completions_and_days_are_audited_once_and_a_mismatch_is_reported(
        ledger, reopen, database_url, schema, projector):  # noqa: F811
    # An integrator listens for reconciliation mismatches.
    endpoint = ledger.create_webhook_endpoint(uuid.uuid4(), url="https://example.com/hook",
                                              event_types=["reconciliation.mismatch"],
                                              description="", actor="admin")
    # A distribution is paid, some holders failing: it completes (with failures).
    asset = story.import_asset(ledger)
    did = story.snapshotted(ledger, asset, 30, gas_model=SMALL)
    story.execute(ledger, did, fail_every=7, retry=False)
    # The scheduler's tick audits the completed distribution, and the day: both clean.
    scheduler = Scheduler(ledger, automation=None, audits=ScheduledAudits(ledger))
    done = scheduler.tick(NOW)
    assert (done["audits"], done["audit_mismatches"], done["errors"]) == (2, 0, 0)
    completion = ledger.get_audit_run(audit_run_id(AuditTrigger.COMPLETION, str(did)))
    assert completion.ok and completion.distributions_checked == 1
    daily = ledger.get_audit_run(audit_run_id(AuditTrigger.DAILY, "2026-12-04"))
    assert daily.ok and daily.distributions_checked == 1 and daily.actor == "system:scheduler"
    # Later the same day, and after a restart, nothing is audited twice.
    assert scheduler.tick(NOW + timedelta(hours=1))["audits"] == 0
    restarted = Scheduler(reopen(), automation=None, audits=ScheduledAudits(reopen()))
    assert restarted.tick(NOW + timedelta(hours=2))["audits"] == 0
    # Someone edits a stored entitlement; the next day's run finds it and records it.
    _tamper(database_url, schema, ledger, did)
    fresh = reopen()  # nothing cached: what the store holds now
    done = Scheduler(fresh, automation=None, audits=ScheduledAudits(fresh)).tick(
        NOW + timedelta(days=1))
    assert (done["audits"], done["audit_mismatches"]) == (1, 1)
    run = fresh.get_audit_run(audit_run_id(AuditTrigger.DAILY, "2026-12-05"))
    assert run.mismatched == [str(did)]
    assert any("withheld" in d for d in run.differences)
    # The read models carry it: the outbox has one reconciliation.mismatch for the endpoint
    # (the clean runs told nobody), and the panel lists it as needing a person.
    position = head(fresh)
    for runner in projector:
        runner.store.wait(APPLICATION, position, timeout=30)
    with psycopg.connect(database_url) as conn:
        sent = conn.execute(sql.SQL("SELECT endpoint_id, type, data FROM {}").format(
            sql.Identifier(f"{schema}_views", "webhook_events"))).fetchall()
    assert [(e, t) for e, t, _ in sent] == [(endpoint, "reconciliation.mismatch")]
    assert sent[0][2]["mismatched"] == [str(did)] and sent[0][2]["key"] == "2026-12-05"
    latest, items = asyncio.run(_seen(database_url, schema))
    assert {(r["trigger"], r["mismatches"]) for r in latest} == {("daily", 1),
                                                                 ("completion", 0)}
    [item] = [i for i in items if i.kind == "reconciliation-mismatch"]
    assert "1 of 1 distributions" in item.title and "withheld" in item.detail
    assert item.link == f"/panel/distributions/{did}"
