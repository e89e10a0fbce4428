"""/metrics' ingestion lag comes from the `ingestion_cursors` read model: a freshly started
API process answers it with two read-model queries and no ledger events, however many block
ranges the vault's cursor has ingested."""

from __future__ import annotations

import asyncio

from api.ingestion import IngestionLag
from api.reads import ReadModels
from devtools import payout_story as story
from domain import accounts
from projections.registry import open_all
from projections.runner import Runner

RANGES = 300


def test_the_lag_reads_one_row_per_vault_not_the_cursors_history(
        ledger, database_url, schema, chain, views, monkeypatch):
    # The chain is well ahead of what the vault's cursor will have ingested.
    w3 = chain.reader.w3
    w3.provider.ethereum_tester.mine_blocks(RANGES + 10)
    chain_id = int(w3.eth.chain_id)
    # An asset paying through a vault on the API's chain, ingested in 300 ranges (one cursor
    # event each), and the read models caught up.
    ledger.import_asset(chain_id=chain_id, token_address=chain.token, name="Acme", symbol="A",
                        decimals=2, kind="EQUITY", payment_token="0x" + "b2" * 20,
                        payment_decimals=6, vault_address=story.VAULT, actor="importer")
    miner = story.Chain(ledger, chain_id, story.VAULT)
    for _ in range(RANGES):
        miner.mine([])
    for projection in open_all(views):
        Runner(ledger, projection).catch_up()
    # A freshly started API process (nothing cached) is asked for the lag; it has no ledger
    # to replay (IngestionLag takes none), and its read-model queries are counted.
    reads = ReadModels(database_url, schema)
    queries: list[str] = []
    read_all = reads.all

    async def counted_all(query, params=None):
        queries.append(str(query))
        return await read_all(query, params)

    monkeypatch.setattr(reads, "all", counted_all)

    async def lag() -> dict[str, int]:
        await reads.open()
        try:
            return await IngestionLag(reads, w3)()
        finally:
            await reads.close()

    found = asyncio.run(lag())
    # The lag is right, and it cost two queries, not one per event of the cursor's history.
    assert found == {accounts.canonical(story.VAULT): int(w3.eth.block_number) - RANGES}
    assert len(queries) == 2
