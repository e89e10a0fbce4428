"""`mass-payout webhooks deliver` killed -9 while a slow receiver holds its request: the
attempt it never recorded is made again by the next deliverer, with the same id, and every
event still arrives, in order."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from devtools import payout_story as story

SCRIPT = Path(sys.executable).parent / "mass-payout"


def _deliverer(database_url: str, schema: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DATABASE_URL": database_url, "MASS_PAYOUT_SCHEMA": schema,
           "MASS_PAYOUT_WEBHOOK_ALLOW": "127.0.0.1"}
    return subprocess.Popen([str(SCRIPT), "webhooks", "deliver", "--interval", "0.1"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _wait(predicate, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_deliverer_killed_mid_delivery_loses_nothing(ledger, webhooks, receiver, outbox,
                                                       database_url, schema):
    webhooks.create(url=receiver.url, event_types=["distribution.created",
                                                   "distribution.approved"],
                    description="", actor="admin")
    did = ledger.create_distribution(asset_id=story.import_asset(ledger), idempotency_key="k",
                                     terms=story.sample_terms(), actor="maker")
    ledger.approve_distribution(did, "checker")
    outbox.catch_up()
    # The receiver answers slowly; the deliverer is killed -9 while its request is open.
    receiver.delay = 3.0
    first = _deliverer(database_url, schema)
    try:
        _wait(lambda: len(receiver.received) == 1)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        first.kill()
    # A new deliverer sends the same event again (nothing was recorded), then the next one.
    receiver.delay = 0.0
    second = _deliverer(database_url, schema)
    try:
        _wait(lambda: len(receiver.received) == 3)
        time.sleep(1.0)  # and nothing more
    finally:
        second.terminate()
        second.wait(10)
    bodies = [json.loads(r.body) for r in receiver.received]
    assert [b["type"] for b in bodies] == ["distribution.created", "distribution.created",
                                           "distribution.approved"]
    assert bodies[0]["id"] == bodies[1]["id"] and bodies[0] == bodies[1]
