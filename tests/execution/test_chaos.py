"""Chaos (issue #13 item 8): one distribution paid while its processes are killed -9 at random
and PostgreSQL and Redis restart under it; every holder is paid exactly once on chain.

The benchmark runs as an operator would run it, in its own embedded engines (it restarts
them, so never the machine's shared ones) under a temporary var directory.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4

import psycopg
import pytest
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from rq import Queue

from app.jobs import queue_overdue
from runtime import bootstrap

KILLS = 6


@pytest.mark.crash
@pytest.mark.anvil
@pytest.mark.slow
@pytest.mark.timeout(240)
def test_a_payout_under_kills_and_engine_restarts_pays_everyone_once(tmp_path: Path) -> None:
    # The bench uses its own engines: nothing configured points it elsewhere.
    env = {k: v for k, v in os.environ.items()
           if k not in {"DATABASE_URL", "REDIS_URL", "RPC_URL", "MASS_PAYOUT_FAILPOINT"}}
    env["MASS_PAYOUT_VAR"] = str(tmp_path)
    script = Path(sys.executable).parent / "mass-payout"
    # 300 holders in ~30 batches, 6 processes killed -9, PostgreSQL and Redis restarted.
    bench = subprocess.Popen([str(script), "bench", "chaos", "--holders", "300", "--kills",
                              str(KILLS), "--seed", "8", "--json"],
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = bench.communicate(timeout=200)
    except subprocess.TimeoutExpired:
        bench.terminate()  # SIGTERM: the bench stops every process it started
        out, err = bench.communicate(timeout=30)
        # its progress (stderr with --json) says how far it got, and what it was waiting on
        pytest.fail(f"the chaos bench did not finish in 200 s; its progress:\n{err[-6000:]}")
    print(out[-4000:], err[-4000:])
    result = json.loads(out.strip().splitlines()[-1])
    # Every kill happened while it paid; nobody was paid twice or left unpaid; the ledger
    # matches the chain holder by holder; the exit code says so too.
    assert result["kills"] == KILLS
    assert result["engine_restarts"] == {"postgres": 1, "redis": 1}
    assert result["double_paid"] == 0
    assert result["unpaid"] == 0
    assert result["reconciled"] is True
    assert result["legitimately_failed"] == 3  # the blocklisted holders
    assert bench.returncode == 0


def test_a_process_started_while_an_engine_is_down_waits_for_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # PostgreSQL refuses twice, then Redis once, then both are back.
    faults: list[Exception] = [psycopg.OperationalError("the database system is starting up"),
                               psycopg.OperationalError("connection refused"),
                               RedisConnectionError("Connection refused")]
    waited: list[float] = []
    monkeypatch.setattr(bootstrap.time, "sleep", waited.append)

    def build() -> str:
        if faults:
            raise faults.pop(0)
        return "built"

    # The process waits with backoff instead of exiting (which a restart mid-outage did).
    assert bootstrap.when_reachable(build) == "built"
    assert waited == [1.0, 2.0, 4.0]


@pytest.fixture
def queue(redis_url: str) -> Iterator[Queue]:
    """A queue of its own, with no worker and so no RQ scheduler."""
    redis = Redis.from_url(redis_url)
    yield Queue(f"test-{uuid4().hex[:8]}", connection=redis)
    redis.close()


def test_scheduled_jobs_no_scheduler_queued_are_queued_by_the_supervisor(queue: Queue) -> None:
    # A retry was due 10 s ago, another is due in a minute; no RQ scheduler runs (its worker
    # was killed -9 and held the scheduler's lock).
    now = datetime.now(UTC)
    late = queue.enqueue_at(now - timedelta(seconds=10), time.sleep, 0, job_id="late",
                            unique=True)
    queue.enqueue_at(now + timedelta(minutes=1), time.sleep, 0, job_id="later", unique=True)
    # The supervisor's pass queues the overdue one, under its own id, and only that one.
    assert queue_overdue(queue) == ["late"]
    assert queue.job_ids == [late.id]
    assert queue.scheduled_job_registry.get_job_ids() == ["later"]
    # A second pass finds nothing more to do.
    assert queue_overdue(queue) == []
