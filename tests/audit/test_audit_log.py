"""Tamper evidence: the hash chain PostgreSQL writes with every save, recomputed by
`verify_chain`, catches an event edited or deleted with SQL behind the ledger's back."""

from __future__ import annotations

import threading

import psycopg
import pytest
from psycopg import sql

from app.audit_log import CHAIN, HEAD, verify_chain
from devtools import payout_story as story
from domain.planning import GasModel
from runtime.engines import open_ledger

SMALL = GasModel(per_leaf=1_000_000, budget=12_000_000)  # 11 leaves per batch


@pytest.fixture
def paid(ledger):
    """A distribution's whole story: created, approved, snapshotted, paid with retries."""
    asset = story.import_asset(ledger)
    did = story.snapshotted(ledger, asset, 40, gas_model=SMALL)
    story.execute(ledger, did, fail_every=7)
    return did


def execute(database_url, statement, *args):
    with psycopg.connect(database_url, autocommit=True) as conn:
        return conn.execute(statement, args).rowcount


def test_an_untouched_log_verifies(ledger, paid):
    # Every event recorded by the story has its link, and they chain up to the head
    check = verify_chain(ledger)
    assert check.ok, check.reason
    assert check.events == ledger.recorder.max_notification_id() == check.head_position
    assert len(check.head_link) == 64


def test_an_event_edited_with_sql_is_named(ledger, paid, database_url, schema):
    # Someone with database access rewrites one stored event's state
    target = 5
    assert execute(database_url, sql.SQL(
        "UPDATE {} SET state = state || '\\x20'::bytea WHERE notification_id = %s").format(
        sql.Identifier(schema, "payoutledger_events")), target) == 1
    # verify-log names that position, and no earlier one
    check = verify_chain(ledger)
    assert not check.ok
    assert check.broken_at == target
    assert check.events == target - 1


def test_a_topic_or_version_edit_is_caught_too(ledger, paid, database_url, schema):
    execute(database_url, sql.SQL(
        "UPDATE {} SET originator_version = originator_version + 100"
        " WHERE notification_id = 3").format(sql.Identifier(schema, "payoutledger_events")))
    assert verify_chain(ledger).broken_at == 3


def test_a_deleted_event_is_named(ledger, paid, database_url, schema):
    events = sql.Identifier(schema, "payoutledger_events")
    # Deleted alone: its link is left without an event
    execute(database_url, sql.SQL("DELETE FROM {} WHERE notification_id = 7").format(events))
    check = verify_chain(ledger)
    assert (check.broken_at, check.ok) == (7, False)
    # Deleted with its link: the next event's link no longer follows the one before
    execute(database_url, sql.SQL("DELETE FROM {} WHERE notification_id = 7").format(
        sql.Identifier(schema, CHAIN)))
    assert verify_chain(ledger).broken_at == 8


def test_events_deleted_from_the_end_are_caught_by_the_head(ledger, paid, database_url,
                                                            schema):
    last = ledger.recorder.max_notification_id()
    for table in ("payoutledger_events", CHAIN):
        execute(database_url, sql.SQL("DELETE FROM {} WHERE notification_id >= %s").format(
            sql.Identifier(schema, table)), last - 1)
    check = verify_chain(ledger)
    assert not check.ok
    assert check.broken_at == last - 1
    assert "deleted" in (check.reason or "")


def test_a_store_from_before_the_chain_is_linked_on_first_open(ledger, paid, database_url,
                                                               schema):
    # A store as it was before the chain existed: no trigger, no links, no head
    with psycopg.connect(database_url, autocommit=True) as conn:
        for trigger in ("event_chain_lock", "event_chain_append"):
            conn.execute(sql.SQL("DROP TRIGGER {} ON {}").format(
                sql.Identifier(trigger), sql.Identifier(schema, "payoutledger_events")))
        for table in (CHAIN, HEAD):
            conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(schema, table)))
    # Opening it links everything already stored
    reopened = open_ledger(database_url, schema)
    try:
        check = verify_chain(reopened)
        assert check.ok, check.reason
        assert check.events == reopened.recorder.max_notification_id()
        # and what is recorded from then on is linked as it is saved
        story.import_asset(reopened, token="0x" + "c3" * 20)
        assert verify_chain(reopened).ok
    finally:
        reopened.close()


def test_concurrent_saves_chain_in_commit_order(ledger, database_url, schema):
    # Several ledgers save at once (as workers and the ingestor do)
    others = [open_ledger(database_url, schema) for _ in range(4)]
    try:
        def importing(n: int) -> None:
            for i in range(10):
                story.import_asset(others[n], token=f"0x{n:02x}{i:02x}" + "00" * 18)

        threads = [threading.Thread(target=importing, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        # The chain is whole: no link computed against a head another save moved
        check = verify_chain(ledger)
        assert check.ok, check.reason
        assert check.events == 40
    finally:
        for other in others:
            other.close()
