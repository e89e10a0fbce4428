"""The API's read cache on a real PostgreSQL: concurrent misses share one load, a commit
announced in between starts a fresh one, and a read-your-writes wait that sees a commit
before its announcement does not answer from the cache."""

from __future__ import annotations

import asyncio

import psycopg
import pytest

from api.reads import ReadModels
from devtools import payout_story as story
from projections.registry import open_all
from projections.store import announce, views_schema


@pytest.fixture
def reads(database_url, schema, ledger, views):
    open_all(views)  # the read models' tables and tracking rows
    return ReadModels(database_url, schema)


async def listening(reads: ReadModels) -> None:
    await reads.open()
    for _ in range(500):
        if reads._listening:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the cache listener did not connect")


class Loads:
    """A page load that waits for a gate, counting how often it ran."""

    def __init__(self, body: bytes) -> None:
        self.body, self.count, self.gate = body, 0, asyncio.Event()

    async def __call__(self) -> bytes:
        self.count += 1
        await self.gate.wait()
        return self.body


def test_concurrent_misses_share_one_load_then_hit(reads):
    async def story_() -> None:
        await listening(reads)
        try:
            # Twenty clients ask for one page the cache does not have.
            load = Loads(b"page")
            waiting = [asyncio.ensure_future(reads.cached("batches", "k", load))
                       for _ in range(20)]
            await asyncio.sleep(0.05)
            load.gate.set()
            # One query answered all of them, and the next one is a hit.
            assert await asyncio.gather(*waiting) == [b"page"] * 20
            assert load.count == 1
            assert await reads.cached("batches", "k", load) == b"page" and load.count == 1
        finally:
            await reads.close()

    asyncio.run(story_())


def test_a_read_after_an_announced_commit_does_not_share_an_older_load(reads, database_url,
                                                                       schema):
    async def story_() -> None:
        await listening(reads)
        try:
            # A load starts; then the batches read model commits and announces it.
            before = Loads(b"before")
            first = asyncio.ensure_future(reads.cached("batches", "k", before))
            await asyncio.sleep(0.05)
            with psycopg.connect(database_url, autocommit=True) as conn, conn.cursor() as cur:
                announce(cur, views_schema(schema), "batches", 1)
            for _ in range(500):
                if reads._seen.get("batches"):
                    break
                await asyncio.sleep(0.01)
            # A read after the commit loads again, and the older load is not cached.
            after = Loads(b"after")
            second = asyncio.ensure_future(reads.cached("batches", "k", after))
            before.gate.set()
            after.gate.set()
            assert (await first, await second) == (b"before", b"after")
            assert after.count == 1
            assert await reads.cached("batches", "k", Loads(b"later")) == b"after"
        finally:
            await reads.close()

    asyncio.run(story_())


def test_a_wait_that_sees_an_unannounced_commit_drops_the_cache(reads, ledger, database_url,
                                                                schema):
    # Something is recorded; the assets read model has a cached page from before.
    story.import_asset(ledger)
    position = ledger.recorder.max_notification_id()

    async def story_() -> None:
        await listening(reads)
        try:
            old = Loads(b"old")
            old.gate.set()
            assert await reads.cached("assets", "k", old) == b"old"
            # The projection commits that position, and its announcement is not heard yet.
            with psycopg.connect(database_url, autocommit=True) as conn:
                conn.execute(f'UPDATE "{views_schema(schema)}".assets_tracking'
                             " SET notification_id = %s", (position,))
            # A read waiting for that position gets the committed state, not the cache.
            await reads.wait_for(position, "assets")
            new = Loads(b"new")
            new.gate.set()
            assert await reads.cached("assets", "k", new) == b"new"
        finally:
            await reads.close()

    asyncio.run(story_())
