"""A delivery pass reads what is pending, not the history delivered; the attempts of events
delivered longer ago than the retention are pruned, and nothing else."""

from __future__ import annotations

from datetime import timedelta

import psycopg
from psycopg.rows import dict_row

from app.webhooks import ATTEMPTS, DELIVERIES, OUTBOX
from app.webhooks import views as views_of
from devtools import payout_story as story
from tests.webhooks.test_delivery import drain


def test_a_pass_reads_pending_rows_only_and_old_attempts_are_pruned(
        ledger, webhooks, receiver, outbox, deliverer, clock, database_url, schema):
    v = views_of(schema)
    webhooks.create(url=receiver.url, event_types=["distribution.created"], description="",
                    actor="admin")
    asset = story.import_asset(ledger)
    # The first distribution's creation is delivered at the second attempt.
    receiver.fail = 1
    ledger.create_distribution(asset_id=asset, idempotency_key="old",
                               terms=story.sample_terms(), actor="maker")
    drain(deliverer, outbox)
    clock.advance(seconds=30)
    drain(deliverer, outbox)
    # A month and a day later the receiver is down: the second creation is pending.
    clock.advance(days=31)
    receiver.status = 500
    ledger.create_distribution(asset_id=asset, idempotency_key="new",
                               terms=story.sample_terms(), actor="maker")
    drain(deliverer, outbox)
    assert len(receiver.received) == 3
    # The pass's query reads pending delivery rows through their partial index and never
    # the outbox (it used to scan every outbox row, delivered or not, on every pass).
    with psycopg.connect(database_url) as conn:
        conn.execute("SET enable_seqscan = off")
        plan = "\n".join(r[0] for r in conn.execute("EXPLAIN " + deliverer._q["due"],
                                                      (clock(), 100)))
    assert "webhook_deliveries_pending" in plan and OUTBOX not in plan
    # Past the 30-day retention, the delivered event's two attempts are pruned; the pending
    # event keeps its attempt, and a second prune finds nothing more.
    assert deliverer.prune(timedelta(days=30)) == 2
    assert deliverer.prune(timedelta(days=30)) == 0
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        rows = conn.execute(f"SELECT d.status, d.attempts, d.delivered_at,"
                            f" (SELECT count(*) FROM {v}.{ATTEMPTS} a"
                            f" WHERE a.event_id = d.event_id) AS kept"
                            f" FROM {v}.{DELIVERIES} d ORDER BY d.position").fetchall()
    # The delivery log keeps what the API shows of the delivered event (status, attempts,
    # when it was delivered); only the per-try detail is gone.
    assert [(r["status"], r["attempts"], r["kept"]) for r in rows] == [
        ("delivered", 2, 0), ("pending", 1, 1)]
    assert rows[0]["delivered_at"] is not None
    # Once the receiver is back, the pending event goes out; nothing delivered is resent.
    receiver.status = 200
    clock.advance(hours=1)
    drain(deliverer, outbox)
    assert len(receiver.received) == 4
