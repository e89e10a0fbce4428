"""`GET /scheduler` and /metrics show operators what the leading scheduler last did and which
items it cannot move forward, with the error; an item that recovers leaves the list."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from app.scheduler import Scheduler
from app.scheduler_status import StatusBoard
from tests.api.conftest import auth
from tests.api.test_metrics import families

NOW = datetime(2027, 3, 1, tzinfo=UTC)


def test_a_failing_item_is_shown_with_its_error_until_it_recovers(
        client, keys, ledger, database_url, schema):
    viewer = auth(keys["viewer"])
    never = client.get("/scheduler", headers=viewer)
    assert never.status_code == 200
    assert never.json() == {"last_tick_at": None, "ticks": 0, "errors_total": 0, "failing": []}

    board = StatusBoard(database_url, schema)
    scheduler = Scheduler(ledger, automation=None)
    # An item the scheduler cannot load (as when a step keeps failing): its error is kept
    # and the tick goes on; this is how it reaches the board, as in `run_scheduler`.
    broken = uuid.uuid4()
    scheduler.schedules.add(broken)
    done = scheduler.tick(NOW)
    board.record(at=NOW, done=done, failing=scheduler.last_errors)
    shown = client.get("/scheduler", headers=viewer).json()
    assert shown["ticks"] == 1 and shown["errors_total"] == 1
    assert datetime.fromisoformat(shown["last_tick_at"]) == NOW
    (failing,) = shown["failing"]
    assert failing["item"] == str(broken) and failing["error"].startswith("NotFound: ")
    metrics = families(client.get("/metrics", headers=viewer).text)
    assert metrics["mass_payout_scheduler_failing_items"][()] == 1
    assert metrics["mass_payout_scheduler_last_tick_timestamp_seconds"][()] == NOW.timestamp()

    # It recovers (here: it is gone): the next tick clears it; the count of errors stays.
    scheduler.schedules.discard(broken)
    later = NOW + timedelta(seconds=1)
    board.record(at=later, done=scheduler.tick(later), failing=scheduler.last_errors)
    shown = client.get("/scheduler", headers=viewer).json()
    assert (shown["ticks"], shown["errors_total"], shown["failing"]) == (2, 1, [])
    assert families(client.get("/metrics", headers=viewer).text)[
        "mass_payout_scheduler_failing_items"][()] == 0
    board.close()
