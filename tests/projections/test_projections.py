"""Projections on a real PostgreSQL: what the read models say after a payout's whole story,
that they are exactly-once under competing writers, and that a rebuild equals them."""

from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest

from devtools import payout_story as story
from domain.batch import PayoutBatch
from domain.chain_facts import VaultSwept
from domain.distribution import Distribution
from domain.planning import GasModel
from projections.base import topics
from projections.rebuild import rebuild, rebuild_each, stale
from projections.registry import PROJECTIONS, open_projection
from projections.runner import Runner
from projections.store import StaleTracking
from tests.projections.stories import Vault, retried_twice, waited_and_blocked

SMALL = GasModel(per_leaf=1_000_000, budget=12_000_000)  # 11 leaves per batch


def rows(database_url, schema, table, order):
    with psycopg.connect(database_url) as conn:
        return conn.execute(f'SELECT * FROM "{schema}_views"."{table}" ORDER BY {order}').fetchall()


@pytest.fixture
def story_ledger(ledger):
    # A 120-holder dividend in 11-leaf batches, executed; every 7th leaf fails, then is paid.
    asset = story.import_asset(ledger)
    did = story.snapshotted(ledger, asset, 120, gas_model=SMALL)
    story.execute(ledger, did, fail_every=7)
    return ledger, did


@pytest.fixture
def eventful_ledger(story_ledger):
    # The story, plus distributions retried, waiting for funds, and with blocked batches.
    ledger, did = story_ledger
    asset = ledger.get_distribution(did).asset_id
    retried_twice(ledger, asset)
    waited_and_blocked(ledger, asset)
    # After the claim deadline: a sweep asked, approved, sent and swept; a reclaim asked.
    after = story.RECORD + timedelta(days=91)
    sweep, _ = ledger.request_sweep(did, actor="maker", amount=1, reason="dust", now=after)
    ledger.approve_treasury_op(did, sweep, "checker")
    ledger.record_treasury_submission(did, sweep, tx_hash="0x5e", nonce=1, signed_at=after)
    Vault(ledger).chain.mine([VaultSwept(story.VAULT, "0x" + "b2" * 20, "0x" + "ee" * 20, 1,
                                         "0x5e")])
    ledger.request_reclaim(did, actor="maker", reason="closed", now=after)
    # The asset's sweep accounts set, then one of them changed by another admin
    ledger.set_sweep_accounts(asset, tax_authority="0x" + "7a" * 20, dust="0x" + "d0" * 20,
                              actor="ann", reason="configured")
    ledger.set_sweep_accounts(asset, tax_authority="0x" + "7a" * 20, dust="0x" + "d1" * 20,
                              actor="bob", reason="new dust account")
    assert ledger.get_distribution(did).swept == 1
    recorded = {n.topic for n in ledger.recorder.select_notifications(start=1, limit=10**6)}
    assert set(topics(Distribution.FundsArrived, Distribution.RetryRequested,
                      PayoutBatch.RetryRequested, PayoutBatch.AttemptFailed,
                      PayoutBatch.SubmissionRejected, PayoutBatch.LeafClaimed)) <= recorded
    return ledger, did


def catch_up_all(ledger, views, **sizes):
    for cls in PROJECTIONS.values():
        Runner(ledger, open_projection(views, cls), **sizes).catch_up()


def test_read_models_tell_the_whole_story(story_ledger, views, database_url, schema):
    ledger, _ = story_ledger
    # Small transactions: outcomes of rows written by earlier transactions go through UPDATE.
    catch_up_all(ledger, views, max_events=40, page=25)
    holders = rows(database_url, schema, "distribution_holders", "position")
    assert len(holders) == 120
    assert [h[10] for h in holders].count("SKIPPED") == 1  # the zero balance
    paid = [h for h in holders if h[10] == "PAID"]
    assert len(paid) == 119 and all(h[12] and h[13] is None for h in paid)
    retried = [h for h in paid if h[14] == 2]
    assert len(retried) == len([h for h in paid if h[9] % 7 == 6])
    (d,) = rows(database_url, schema, "distributions", "distribution_id")
    distribution = dict(zip(_columns(database_url, schema, "distributions"), d, strict=True))
    assert distribution["status"] == "COMPLETED"  # the retries paid every failure
    assert distribution["paid_count"] == 119 and distribution["failed_count"] == 0
    assert distribution["batches_settled"] == distribution["batch_count"] == 11
    assert distribution["amount_paid"] == sum(h[8] for h in paid)
    assert len(rows(database_url, schema, "asset_holders", "account")) == 119


def _columns(database_url, schema, table):
    with psycopg.connect(database_url) as conn:
        cur = conn.execute(f'SELECT * FROM "{schema}_views"."{table}" LIMIT 0')
        return [c.name for c in cur.description]


def test_a_rebuilt_projection_equals_the_incremental_one_row_for_row(
        eventful_ledger, views, database_url, schema):
    ledger, _ = eventful_ledger
    catch_up_all(ledger, views, max_events=30, page=20)
    orders = {"assets": "asset_id", "asset_holders": "asset_id, account",
              "live_holders": "asset_id, account",
              "distributions": "distribution_id", "batches": "batch_id",
              "distribution_holders": "distribution_id, position",
              "ingestion_cursors": "cursor_id", "schedules": "schedule_id",
              "webhook_events": "event_id", "withholding_rates": "distribution_id, account",
              "audit_runs": "run_id", "treasury_ops": "distribution_id, number",
              "vault_ops": "ops_id, number", "sweep_accounts": "asset_id, destination"}
    for name, cls in PROJECTIONS.items():
        before = rows(database_url, schema, name, orders[name])
        done = rebuild(ledger, views, cls)
        assert done.position == ledger.recorder.max_notification_id()
        assert rows(database_url, schema, name, orders[name]) == before, name


def test_a_read_model_built_by_an_older_projection_is_rebuilt(
        eventful_ledger, views, database_url, schema):
    ledger, _ = eventful_ledger
    catch_up_all(ledger, views)
    before = rows(database_url, schema, "batches", "batch_id")
    # As the previous version left them: no new columns, unstamped, a retried batch BLOCKED.
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f'ALTER TABLE "{schema}_views".batches DROP COLUMN rejection,'
                     " DROP COLUMN transient_failures, DROP COLUMN retry_at, DROP COLUMN retries")
        conn.execute(f'UPDATE "{schema}_views".batches SET status = %s', ("BLOCKED",))
        conn.execute(f'COMMENT ON TABLE "{schema}_views".batches_tracking IS NULL')
    # Opening it adds the columns back (the API can read them) and finds it stale.
    assert [cls.name for cls in stale(views)] == ["batches"]
    assert {"rejection", "retries"} <= set(_columns(database_url, schema, "batches"))
    # The projector rebuilds it: the rows are what the current projection writes.
    assert [r.name for r in rebuild_each(ledger, views, stale(views))] == ["batches"]
    assert rows(database_url, schema, "batches", "batch_id") == before
    assert stale(views) == []


def test_a_stale_writer_applies_nothing(story_ledger, views, database_url, schema):
    ledger, _ = story_ledger
    cls = PROJECTIONS["distribution_holders"]
    first = Runner(ledger, open_projection(views, cls), max_events=50, page=50)
    second = Runner(ledger, open_projection(views, cls), max_events=10**6)
    # The second runner reads position 0, then the first one commits a batch meanwhile.
    with views.get_connection() as conn, conn.transaction():
        previous = second.position_in(conn)
    first.step()
    projection = second.projection
    for note in ledger.recorder.select_notifications(start=1, limit=10**6):
        if note.topic in projection.topics:
            projection.process_event(ledger.mapper.to_domain_event(note), None)
    with pytest.raises(StaleTracking), views.get_connection() as conn:
        second.store.commit(conn, previous, 10**6, projection.write)
    projection.reset()
    # Both runners then finish from the recorded position: every row once, attempts once.
    second.catch_up()
    first.catch_up()
    holders = rows(database_url, schema, "distribution_holders", "position")
    assert len(holders) == 120
    assert sum(h[14] for h in holders) == 119 + len([h for h in holders if h[14] == 2])
