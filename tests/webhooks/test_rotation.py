"""A secret rotation: the new secret signs at once, the old one too for the grace period
(two `v1=` signatures, as Stripe sends them), then only the new one; older secrets are
erased. Receivers switch without losing a delivery."""

from __future__ import annotations

import json
import time

import pytest

from app.webhooks import secret_of, verify
from devtools import payout_story as story
from domain.errors import NotFound


def deliver_all(deliverer, outbox) -> None:
    outbox.catch_up()
    while deliverer.deliver_due():
        pass


def create_one(ledger, asset_id, key: str) -> None:
    ledger.create_distribution(asset_id=asset_id, idempotency_key=key,
                               terms=story.sample_terms(), actor="maker")


def test_a_rotated_secret_signs_beside_the_old_one_until_the_grace_ends(
        ledger, webhooks, receiver, outbox, deliverer, clock, database_url, schema):
    hook = webhooks.create(url=receiver.url, event_types=["distribution.created"],
                           description="", actor="admin")
    old = hook.secret
    asset = story.import_asset(ledger)
    # Before any rotation: one signature, under the creation's secret.
    create_one(ledger, asset, "a")
    deliver_all(deliverer, outbox)
    assert receiver.received[-1].headers["Webhook-Signature"].count("v1=") == 1
    # The admin rotates: the ledger says who, and until when the old secret signs.
    rotated = webhooks.rotate_secret(hook.endpoint_id, "admin", now=clock())
    assert rotated.secret != old
    endpoint = ledger.get_webhook_endpoint(hook.endpoint_id)
    assert endpoint.previous_until == rotated.previous_valid_until
    # During the grace period each delivery carries both signatures: a receiver that still
    # has the old secret and one that has the new both accept it.
    create_one(ledger, asset, "b")
    deliver_all(deliverer, outbox)
    request = receiver.received[-1]
    header, now = request.headers["Webhook-Signature"], time.time()
    assert header.count("v1=") == 2
    assert verify(old, header, request.body, now) and verify(rotated.secret, header,
                                                             request.body, now)
    assert not verify("whsec_other", header, request.body, now)
    # Past the grace period only the new secret signs.
    clock.advance(hours=24, seconds=1)
    create_one(ledger, asset, "c")
    deliver_all(deliverer, outbox)
    request = receiver.received[-1]
    header = request.headers["Webhook-Signature"]
    stamp = int(request.headers["Webhook-Timestamp"])
    assert header.count("v1=") == 1 and verify(rotated.secret, header, request.body, stamp)
    assert not verify(old, header, request.body, stamp)
    assert [json.loads(r.body)["type"] for r in receiver.received] == \
        ["distribution.created"] * 3
    # A second rotation erases the creation's secret (it can never sign again); the first
    # rotation's keeps its grace period.
    second = webhooks.rotate_secret(hook.endpoint_id, "admin", now=clock())
    with pytest.raises(NotFound):
        secret_of(database_url, schema, hook.endpoint_id)
    assert secret_of(database_url, schema, hook.endpoint_id,
                     ledger.get_webhook_endpoint(hook.endpoint_id).previous_version or 0) \
        == rotated.secret
    create_one(ledger, asset, "d")
    deliver_all(deliverer, outbox)
    header = receiver.received[-1].headers["Webhook-Signature"]
    stamp = int(receiver.received[-1].headers["Webhook-Timestamp"])
    body = receiver.received[-1].body
    assert verify(second.secret, header, body, stamp) and verify(rotated.secret, header, body,
                                                                  stamp)
    assert not verify(old, header, body, stamp)
