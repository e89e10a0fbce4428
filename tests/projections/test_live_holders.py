"""Live holders: the token's ingested transfers folded into balances per asset, on a real
PostgreSQL, through the ledger's real write path (`apply_chain_facts`, as the ingestor
saves them); a rebuild from the log gives the same table."""

from __future__ import annotations

import psycopg
import pytest

from devtools import payout_story as story
from domain.chain_facts import ShareTransfer
from projections.live_holders import LiveHolders
from projections.rebuild import rebuild
from projections.registry import open_projection
from projections.runner import Runner

ZERO, TOKEN = "0x" + "00" * 20, "0x" + "a1" * 20
A, B, C, D = ("0x" + c * 20 for c in ("aa", "bb", "cc", "dd"))


def transfers(ledger, asset_id, from_block, to_block, moves, cursor_hash):
    """One ingested block range of the security token's Transfer logs."""
    facts = [ShareTransfer(asset_id, sender, recipient, amount, f"0x{from_block:02x}{i:02x}",
                           from_block, i) for i, (sender, recipient, amount) in enumerate(moves)]
    ledger.apply_chain_facts(chain_id=story.CHAIN_ID, contract=TOKEN, from_block=from_block,
                             to_block=to_block, block_hash=f"0xb{to_block}",
                             chain_hash_at_cursor=cursor_hash, facts=facts)


def table(database_url, schema):
    with psycopg.connect(database_url) as conn:
        return conn.execute(f'SELECT * FROM "{schema}_views"."live_holders"'
                            " ORDER BY asset_id, account").fetchall()


@pytest.fixture
def traded(ledger):
    """Mints, trades and burns over two ingested ranges; A and B end with nothing."""
    asset_id = story.import_asset(ledger, TOKEN)
    # Blocks 1-10: A and B are minted 1,000 and 500; A sends C 300, and again 1 (same row).
    transfers(ledger, asset_id, 1, 10, [(ZERO, A, 1_000), (ZERO, B, 500), (A, C, 300),
                                        (A, C, 1)], None)
    # Blocks 11-20: C sends B 100, B burns 600, A sends D the rest (699).
    transfers(ledger, asset_id, 11, 20, [(C, B, 100), (B, ZERO, 600), (A, D, 699)], "0xb10")
    return asset_id


def test_transfers_fold_into_balances_now_and_a_rebuild_gives_the_same_table(
        traded, ledger, views, database_url, schema):
    # Projected one event per transaction: each range's rows updated by a later one.
    Runner(ledger, open_projection(views, LiveHolders), max_events=1, page=1).catch_up()
    rows = table(database_url, schema)
    balances = {r[1]: int(r[2]) for r in rows}
    assert balances == {A: 0, B: 0, C: 201, D: 699}  # the zero address is nobody's row
    first_seen = {r[1]: r[3] for r in rows}
    last_seen = {r[1]: r[4] for r in rows}
    last_tx = {r[1]: r[5] for r in rows}
    # A was first seen in the first range and last in the second, by its last transfer there.
    assert first_seen[A] < last_seen[A] and last_tx[A] == "0x0b02"
    assert first_seen[D] == last_seen[D] and last_tx[D] == "0x0b02"
    assert last_tx[C] == "0x0b00"
    # Rebuilt from the log in one transaction and swapped in: row for row the same table.
    rebuild(ledger, views, LiveHolders)
    assert table(database_url, schema) == rows
