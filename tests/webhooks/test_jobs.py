"""Deliveries as RQ jobs on a real Redis: the due heads are queued once per attempt, a
worker sends them, and a job run twice sends nothing twice."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from redis import Redis
from rq import Queue
from rq.worker import SimpleWorker

from app import webhook_delivery
from app.webhook_delivery import deliver_webhook, enqueue_due
from devtools import payout_story as story


@pytest.fixture
def queue(redis_url, schema) -> Iterator[Queue]:
    connection = Redis.from_url(redis_url)
    yield Queue(f"webhooks-{schema}", connection=connection)
    connection.close()


def test_due_deliveries_run_as_jobs_once(ledger, webhooks, receiver, outbox, deliverer, queue,
                                        monkeypatch):
    webhooks.create(url=receiver.url, event_types=["distribution.created",
                                                   "distribution.approved"],
                    description="", actor="admin")
    did = ledger.create_distribution(asset_id=story.import_asset(ledger), idempotency_key="k",
                                     terms=story.sample_terms(), actor="maker")
    ledger.approve_distribution(did, "checker")
    outbox.catch_up()
    monkeypatch.setattr(webhook_delivery, "_deliverer", deliverer)  # as install() does
    # Only the head of the distribution's chain is queued, and a doubled dispatcher queues
    # nothing more.
    assert enqueue_due(deliverer, queue) == 1
    assert enqueue_due(deliverer, queue) == 0
    SimpleWorker([queue], connection=queue.connection).work(burst=True)
    assert enqueue_due(deliverer, queue) == 1  # now the approval
    SimpleWorker([queue], connection=queue.connection).work(burst=True)
    assert [json.loads(r.body)["type"] for r in receiver.received] == [
        "distribution.created", "distribution.approved"]
    # A job for a delivered event (a late duplicate) sends nothing.
    assert deliver_webhook(receiver.received[0].headers["Webhook-Id"]).startswith("skipped")
    assert len(receiver.received) == 2
