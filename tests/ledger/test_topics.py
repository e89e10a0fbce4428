"""Stored topics stay readable: the classes events are stored under are pinned, and an event
stored under a topic that has since moved is replayed and projected through domain.topics."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import psycopg
import pytest
from eventsourcing.domain import Aggregate, CanMutateAggregate
from eventsourcing.utils import get_topic
from psycopg import sql

import domain
from domain import topics
from domain.asset import Asset
from runtime.engines import open_ledger
from tests.ledger import helpers

PINNED = Path(__file__).with_name("stored_topics.txt")


def current_topics() -> list[str]:
    found: set[str] = set()
    for module in pkgutil.iter_modules(domain.__path__):
        loaded = importlib.import_module(f"domain.{module.name}")
        for value in vars(loaded).values():
            if isinstance(value, type) and issubclass(value, Aggregate) \
                    and value.__module__ == loaded.__name__:
                found.add(get_topic(value))  # snapshots and the aggregate itself
                found.update(get_topic(v) for v in vars(value).values()
                             if isinstance(v, type) and issubclass(v, CanMutateAggregate))
    return sorted(found)


def test_every_event_class_keeps_the_topic_its_events_are_stored_under():
    pinned = PINNED.read_text().split()
    moved = sorted(set(pinned) - set(current_topics()))
    # A class that moved leaves its stored events unreadable unless domain.topics.MOVED maps
    # its old topic: then it is no longer a break.
    assert [t for t in moved if t not in topics.MOVED] == [], \
        "event classes moved: add their old topics to domain.topics.MOVED"
    added = sorted(set(current_topics()) - set(pinned))
    assert added == [], f"new event classes: add their topics to {PINNED.name}"


def test_an_event_stored_under_an_old_topic_replays(database_url, schema, monkeypatch):
    # An asset is imported: its first event is stored under Asset.Imported's topic.
    ledger = open_ledger(database_url, schema)
    asset_id = helpers.import_asset(ledger)
    ledger.close()
    # Pretend Asset.Imported once lived in another module: rewrite the stored topic.
    old = "mass_payout.aggregates:Asset.Imported"
    with psycopg.connect(database_url, autocommit=True) as conn:
        changed = conn.execute(sql.SQL("UPDATE {}.payoutledger_events SET topic = %s"
                                       " WHERE topic = %s").format(sql.Identifier(schema)),
                               (old, get_topic(Asset.Imported))).rowcount
    assert changed == 1
    # Unregistered, the old topic cannot be read.
    with pytest.raises(Exception, match="aggregates"):
        open_ledger(database_url, schema).get_asset(asset_id)
    # Registered in domain.topics, it replays as the class it names now, and readers that
    # select by topic ask for the old one too.
    monkeypatch.setitem(topics.MOVED, old, Asset.Imported)
    reopened = open_ledger(database_url, schema)
    assert reopened.get_asset(asset_id).symbol == "ACME"
    assert old in topics.topics_of(Asset.Imported)
    assert reopened.recorder.select_notifications(start=1, limit=10,
                                                  topics=list(topics.topics_of(Asset.Imported)))
    reopened.close()
