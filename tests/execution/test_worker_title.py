"""`ps` names a payout worker by our command, with RQ's state after it."""

from __future__ import annotations

from pathlib import Path

from redis import Redis
from rq import Queue
from setproctitle import getproctitle, setproctitle

from app.jobs import PayoutWorker


def test_a_payout_worker_shows_as_mass_payout_worker_with_rqs_state(redis_url):
    redis = Redis.from_url(redis_url)
    worker = PayoutWorker([Queue("title-test", connection=redis)], connection=redis)
    before = getproctitle()
    try:
        worker.procline("Listening on title-test")
        shown = Path("/proc/self/cmdline").read_bytes().replace(b"\0", b" ").strip()
        assert shown.decode() == "mass-payout worker: Listening on title-test"
    finally:
        setproctitle(before)
        redis.close()
