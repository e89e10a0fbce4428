"""`history`: a distribution's events with their positions, times, actors and summaries."""

from __future__ import annotations

import uuid

import pytest

from app.audit import history
from devtools import payout_story as story
from domain.errors import NotFound


def test_a_distribution_tells_its_story_with_its_actors(ledger):
    # A maker creates a distribution, a checker approves it, it is snapshotted and executed
    asset = story.import_asset(ledger)
    did = story.snapshotted(ledger, asset, 30)
    story.execute(ledger, did)
    entries = history(ledger, did)
    # Every event, in version order, at increasing ledger positions
    assert [e.version for e in entries] == list(range(1, len(entries) + 1))
    assert [e.position for e in entries] == sorted(e.position for e in entries)
    kinds = [e.kind for e in entries]
    assert kinds[:4] == ["Created", "Approved", "Snapshotted", "Committed"]
    assert "ExecutionStarted" in kinds
    # Who acted is named where the event records it
    actors = {e.kind: e.actor for e in entries}
    assert actors["Created"] == "maker"
    assert actors["Approved"] == "checker"
    assert entries[1].summary.startswith("Approved by checker")
    # A summary is one readable line, collections as their size
    assert all("\n" not in e.summary and len(e.summary) < 1_000 for e in entries)
    assert entries[0].time <= entries[-1].time


def test_history_pages_by_version(ledger):
    asset = story.import_asset(ledger)
    did = story.snapshotted(ledger, asset, 5)
    everything = history(ledger, did)
    first = history(ledger, did, limit=2)
    rest = history(ledger, did, after_version=first[-1].version)
    assert first + rest == everything
    assert history(ledger, did, after_version=everything[-1].version) == []


def test_an_unknown_aggregate_is_not_found(ledger):
    with pytest.raises(NotFound):
        history(ledger, uuid.uuid4())
