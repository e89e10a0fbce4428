"""Batches recorded before entitlements and payments became one event each (one
`HolderEntitled` per holder, one `LeafPaid` per leaf) still replay and project exactly as the
batches recorded now.

The same story runs twice on one ledger, for two assets: once as the code records it today, once
with planning and payment recording the old per-holder events (the old event methods are kept
for replay, so the test can still emit them). Aggregates and read models must agree.
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from devtools import payout_story as story
from domain.batch import PayoutBatch
from domain.planning import GasModel
from projections.base import topics
from projections.registry import PROJECTIONS, open_projection
from projections.runner import Runner

SMALL = GasModel(per_leaf=1_000_000, budget=12_000_000)  # 11 leaves per batch


@pytest.fixture
def legacy_recording(monkeypatch: pytest.MonkeyPatch) -> None:
    """While active, batches record entitlements and payments the old way."""
    def holders_one_by_one(self: PayoutBatch, holders: list[list[Any]]) -> None:
        for position, account, balance, gross, withheld, net, leaf, skip in holders:
            self._holder_entitled(position=position, account=account, balance=balance,
                                  gross=gross, withheld=withheld, net=net, leaf_index=leaf,
                                  skip_reason=skip)

    def paid_one_by_one(self: PayoutBatch, *, leaf_indices: list[int], tx_hash: str) -> None:
        for i in leaf_indices:
            self._leaf_paid(leaf_index=i, amount=self.leaves[i].net, tx_hash=tx_hash)

    monkeypatch.setattr(PayoutBatch, "_holders_entitled", holders_one_by_one)
    monkeypatch.setattr(PayoutBatch, "record_paid_leaves", paid_one_by_one)


def run_story(ledger: Any, token: str) -> Any:
    asset = story.import_asset(ledger, token=token)
    did = story.snapshotted(ledger, asset, 60, gas_model=SMALL)
    story.execute(ledger, did, fail_every=7)
    return did


def holder_rows(database_url: str, schema: str, did: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(database_url) as conn:
        return conn.execute(
            f'SELECT position, account, balance, gross, withheld, net, leaf_index, status,'
            f' skip_reason, failure_reason, attempts FROM "{schema}_views".distribution_holders'
            " WHERE distribution_id = %s ORDER BY position", (did,)).fetchall()


def counters(database_url: str, schema: str, did: Any) -> tuple[Any, ...]:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            f'SELECT status, paid_count, failed_count, amount_paid, batches_settled'
            f' FROM "{schema}_views".distributions WHERE distribution_id = %s', (did,)).fetchone()
    assert row is not None
    return tuple(row)


def test_old_per_holder_events_replay_and_project_like_the_new_ones(
        ledger, views, database_url, schema, reopen, request):
    current = run_story(ledger, "0x" + "a1" * 20)
    request.getfixturevalue("legacy_recording")
    legacy = run_story(ledger, "0x" + "a2" * 20)
    recorded = {n.topic for n in ledger.recorder.select_notifications(start=1, limit=10**6)}
    assert set(topics(PayoutBatch.HolderEntitled, PayoutBatch.LeafPaid,
                      PayoutBatch.HoldersEntitled, PayoutBatch.LeavesPaid)) <= recorded

    # Aggregates: every batch of the legacy story replays to the same state.
    fresh = reopen()  # an empty cache: every batch replayed from the store
    for number in range(ledger.get_distribution(current).batch_count):
        new, old = fresh.get_batch(current, number), fresh.get_batch(legacy, number)
        assert old.holders == new.holders and old.leaves == new.leaves
        assert (old.outcomes, old.amount_paid, old.status) == \
            (new.outcomes, new.amount_paid, new.status)

    # Read models: the same rows and counters from either kind of history.
    for cls in PROJECTIONS.values():
        Runner(ledger, open_projection(views, cls), max_events=25, page=20).catch_up()
    assert holder_rows(database_url, schema, legacy) == holder_rows(database_url, schema, current)
    assert counters(database_url, schema, legacy) == counters(database_url, schema, current)
    assert counters(database_url, schema, current)[0] == "COMPLETED"
