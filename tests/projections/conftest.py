"""Projections on the test's PostgreSQL schema, run the way `mass-payout project` runs them."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from eventsourcing.postgres import PostgresDatastore

from projections.registry import open_all
from projections.runner import Runner, run_forever
from projections.store import views_datastore


@pytest.fixture
def views(database_url, schema) -> Iterator[PostgresDatastore]:
    datastore = views_datastore(database_url, schema)
    yield datastore
    datastore.close()


@pytest.fixture
def projector(ledger, views) -> Iterator[list[Runner]]:
    """Every projection, stepping in a background thread until the test ends."""
    runners = [Runner(ledger, p) for p in open_all(views)]
    stop = threading.Event()
    thread = threading.Thread(target=run_forever, args=(runners, stop), daemon=True)
    thread.start()
    yield runners
    stop.set()
    thread.join(timeout=10)
