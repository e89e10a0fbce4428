"""The ingestion cursors read model follows each ChainCursor: its last block and hash, and
how many logs it could not read, whatever the runner's batch boundaries."""

from __future__ import annotations

import psycopg
import pytest

from devtools import payout_story as story
from domain.chain_facts import UnreadableLog
from projections.ingestion import IngestionCursors
from projections.registry import open_projection
from projections.runner import Runner

OTHER_VAULT = "0x" + "dd" * 20


def cursors(database_url, schema):
    with psycopg.connect(database_url) as conn:
        return conn.execute(
            f'SELECT cursor_id, chain_id, contract, last_block, last_hash, unreadable'
            f' FROM "{schema}_views".ingestion_cursors ORDER BY cursor_id').fetchall()


@pytest.mark.parametrize("max_events", [1, 3, 10_000])
def test_each_cursor_row_matches_its_aggregate(ledger, views, database_url, schema, max_events):
    # Two vaults' cursors: one ingests five ranges, two of them with a log it cannot read;
    # the other one range.
    vault, other = story.Chain(ledger), story.Chain(ledger, vault=OTHER_VAULT)
    for block in range(1, 6):
        unreadable = [UnreadableLog(block, "0x" + "ab" * 32, 0, story.VAULT, "undecodable")]
        vault.mine(unreadable if block in (2, 4) else [])
    other.mine([])
    # The read model catches up in batches of `max_events` (coalescing within a batch,
    # updating rows of earlier ones).
    Runner(ledger, open_projection(views, IngestionCursors), max_events=max_events,
           page=max_events).catch_up()
    # Each row says what the aggregate says.
    expected = sorted(
        (c.id, c.chain_id, c.contract, c.last_block, c.last_hash, c.unreadable)
        for c in (ledger.get_cursor(story.CHAIN_ID, story.VAULT),
                  ledger.get_cursor(story.CHAIN_ID, OTHER_VAULT)) if c is not None)
    assert cursors(database_url, schema) == expected
    assert [(r[3], r[5]) for r in expected if r[2] == story.VAULT] == [(5, 2)]
