"""Reclaim and sweep through the API: refused requests are 4xx problems that record nothing,
approval is four-eyes and queues the treasurer's job, and the read models show it all."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from redis import Redis
from rq import Queue

from app import treasury
from app.commands import head
from devtools import payout_story as story
from tests.api.conftest import auth
from tests.projections.stories import SMALL

PROBLEM = "application/problem+json"


def committed(ledger, deadline):
    asset = story.import_asset(ledger)
    ledger.link_vault(asset, "0x" + "ee" * 20, "importer")
    did = story.snapshotted(ledger, asset, 12, key="treasury", gas_model=SMALL)
    ledger.commit_distribution(did, tx_hash="0x" + "cc" * 32, claim_deadline=deadline,
                               actor="approver")
    return did


def test_requests_are_refused_before_anything_is_recorded(client, keys, ledger):
    did = committed(ledger, datetime.now(UTC) + timedelta(days=30))
    version = ledger.get_distribution(did).version
    # Before the claim deadline a reclaim is a 422 problem
    r = client.post(f"/distributions/{did}/reclaim", json={"reason": "early"},
                    headers=auth(keys["operator"]))
    assert r.status_code == 422 and r.headers["content-type"].startswith(PROBLEM), r.text
    assert "claim window" in r.json()["detail"]
    # More than the distribution left beyond its net, or a malformed amount: 422 / 400
    left = ledger.get_distribution(did).sweepable
    too_much = client.post(f"/distributions/{did}/sweeps",
                           json={"amount": str(left + 1), "reason": "dust"},
                           headers=auth(keys["operator"]))
    assert too_much.status_code == 422 and too_much.headers["content-type"].startswith(PROBLEM)
    for amount in ("0", "-1", "1.5", "ten"):
        bad = client.post(f"/distributions/{did}/sweeps", json={"amount": amount, "reason": "x"},
                          headers=auth(keys["operator"]))
        assert bad.status_code == 400, (amount, bad.text)
    # A viewer may not ask at all
    denied = client.post(f"/distributions/{did}/reclaim", json={"reason": "x"},
                         headers=auth(keys["viewer"]))
    assert denied.status_code == 403
    assert ledger.get_distribution(did).version == version


def test_a_sweep_is_approved_by_another_principal_and_queued_for_the_treasurer(
        client, keys, ledger, redis_url, schema):
    did = committed(ledger, datetime.now(UTC) - timedelta(days=1))
    left = ledger.get_distribution(did).sweepable
    # An admin asks to sweep what is left; the same admin may not approve it
    asked = client.post(f"/distributions/{did}/sweeps",
                        json={"amount": str(left), "reason": "withheld tax"},
                        headers=auth(keys["admin"]))
    assert asked.status_code == 201, asked.text
    number = asked.json()["number"]
    own = client.post(f"/distributions/{did}/treasury-ops/{number}/approve",
                      headers=auth(keys["admin"]))
    assert own.status_code == 403 and own.json()["type"] == "/problems/maker-checker"
    # The approver approves: the treasurer's job is queued (once)
    ok = client.post(f"/distributions/{did}/treasury-ops/{number}/approve",
                     headers=auth(keys["approver"]))
    assert ok.status_code == 200 and ok.json()["queued_by"] == "api", ok.text
    jobs = Queue(treasury.QUEUE_NAME, connection=Redis.from_url(redis_url))
    try:
        assert treasury.job_id(did, number) in jobs.job_ids
    finally:
        jobs.empty()
    # A reclaim after the deadline is accepted; the read models show both, with their actors
    reclaim = client.post(f"/distributions/{did}/reclaim", json={"reason": "window closed"},
                          headers=auth(keys["operator"]))
    assert reclaim.status_code == 201, reclaim.text
    ops = client.get(f"/distributions/{did}/treasury-ops?wait_for_position={head(ledger)}",
                     headers=auth(keys["viewer"])).json()
    assert [(o["kind"], o["state"], o["amount"]) for o in ops] == [
        ("SWEEP", "APPROVED", str(left)), ("RECLAIM", "REQUESTED", "0")]
    assert ops[0]["requested_by"] != ops[0]["approved_by"] is not None
    shown = client.get(f"/distributions/{did}?wait_for_position={head(ledger)}",
                       headers=auth(keys["viewer"])).json()
    assert (shown["reclaimed"], shown["swept"]) == ("0", "0")
