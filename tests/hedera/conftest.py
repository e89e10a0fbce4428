"""Hedera adapters against a Mirror Node STAND-IN (devtools.mirror_standin): the Hedera network
is unreachable from this machine, so the Mirror Node's REST API is served, in its published
format, from a real anvil chain."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from eventsourcing.persistence import StoredEvent
from psycopg import sql

from app.ledger import PayoutLedger
from projections.registry import open_all
from projections.runner import Runner
from projections.store import views_datastore
from runtime.engines import open_ledger


@pytest.fixture
def second_ledger(database_url: str) -> Iterator[tuple[PayoutLedger, str]]:
    """Another ledger in a schema of its own (dropped at the end)."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    ledger = open_ledger(database_url, name)
    yield ledger, name
    ledger.close()
    with psycopg.connect(database_url, autocommit=True) as conn:
        for dropped in (name, f"{name}_views"):
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                sql.Identifier(dropped)))


def copy_log(source: PayoutLedger, target: PayoutLedger) -> int:
    """Every event of `source`, in order, into the empty `target`; returns the last position."""
    notifications = source.recorder.select_notifications(start=1, limit=1_000_000)
    target.recorder.insert_events([
        StoredEvent(originator_id=n.originator_id, originator_version=n.originator_version,
                    topic=n.topic, state=n.state) for n in notifications])
    return notifications[-1].id if notifications else 0


def events_after(ledger: PayoutLedger, position: int) -> list[tuple[Any, ...]]:
    """(aggregate, version, topic, attributes) of every event after `position`: all but the
    moment it was recorded, which legitimately differs between two ingestions."""
    out = []
    for n in ledger.recorder.select_notifications(start=position + 1, limit=1_000_000):
        event = ledger.mapper.to_domain_event(n)
        attributes = {k: v for k, v in vars(event).items() if k != "timestamp"}
        out.append((n.originator_id, n.originator_version, n.topic, attributes))
    return out


def read_models(ledger: PayoutLedger, database_url: str, schema: str) -> dict[str, list[Any]]:
    """Every read model, built from zero, as sorted rows without their time columns (when a
    row was written is not a fact of the chain)."""
    datastore = views_datastore(database_url, schema)
    tables: dict[str, list[Any]] = {}
    try:
        for projection in open_all(datastore):
            Runner(ledger, projection, max_events=100_000, page=10_000).catch_up()
            for table in projection.tables:
                with datastore.get_connection() as conn:
                    rows = conn.execute(sql.SQL("SELECT * FROM {}").format(
                        sql.Identifier(f"{schema}_views", table))).fetchall()
                tables[table] = sorted(
                    (tuple((k, v) for k, v in row.items()
                           if not isinstance(v, dt.datetime | dt.date)) for row in rows),
                    key=repr)
    finally:
        datastore.close()
    return tables
