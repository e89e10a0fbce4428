"""Webhook endpoints through the API: admin only, the secret shown once, private
destinations refused, the delivery log and a redelivery."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from uuid import UUID

from app.webhook_delivery import Deliverer, Policy
from devtools import payout_story as story
from tests.api.conftest import auth, chain, client, keys, queue  # noqa: F401  # fixtures
from tests.projections.conftest import projector  # noqa: F401  # fixture
from tests.webhooks.conftest import LOOPBACK


def test_an_admin_manages_an_endpoint_and_sees_its_deliveries(client, keys, ledger,  # noqa: F811
                                                             receiver, database_url, schema):
    client.app.state.webhook_allow = LOOPBACK
    admin = auth(keys["admin"])
    # A viewer, an operator and an approver cannot even list endpoints.
    for role in ("viewer", "operator", "approver", "auditor"):
        assert client.get("/webhooks", headers=auth(keys[role])).status_code == 403
        assert client.post("/webhooks", headers=auth(keys[role]), json={
            "url": receiver.url, "event_types": ["distribution.created"]}).status_code == 403
    # A private destination is refused; so is an unknown event type.
    refused = client.post("/webhooks", headers=admin, json={
        "url": "http://192.168.1.10/hooks", "event_types": ["distribution.created"]})
    assert refused.status_code == 422, refused.text
    assert "not a public address" in refused.json()["detail"]
    assert client.post("/webhooks", headers=admin, json={
        "url": receiver.url, "event_types": ["nope"]}).status_code == 400
    # The admin registers the receiver (loopback allowed here): the secret is shown once.
    made = client.post("/webhooks", headers=admin, json={
        "url": receiver.url, "event_types": ["distribution.created", "distribution.approved"],
        "description": "treasury"})
    assert made.status_code == 201, made.text
    body = made.json()
    hook, secret, position = body["endpoint_id"], body["secret"], body["position"]
    assert secret.startswith("whsec_")
    shown = client.get(f"/webhooks/{hook}", headers=admin,
                       params={"wait_for_position": position})
    assert shown.status_code == 200 and secret not in shown.text
    assert shown.json()["active"] and shown.json()["description"] == "treasury"
    assert shown.json()["created_by"].endswith(keys["admin"].split("_")[1])
    listed = client.get("/webhooks", headers=admin).json()
    assert [w["endpoint_id"] for w in listed["items"]] == [hook]
    # It is changed, disabled (twice is a conflict) and enabled again, each an event.
    changed = client.patch(f"/webhooks/{hook}", headers=admin,
                           json={"description": "treasury system"})
    assert changed.status_code == 200 and changed.json()["position"] > position
    assert client.patch(f"/webhooks/{hook}", headers=admin,
                        json={"url": "http://[fe80::1]/x"}).status_code == 422
    assert client.post(f"/webhooks/{hook}/disable", headers=admin).status_code == 200
    assert client.post(f"/webhooks/{hook}/disable", headers=admin).status_code == 409
    enabled = client.post(f"/webhooks/{hook}/enable", headers=admin)
    assert enabled.status_code == 200
    assert not ledger.get_webhook_endpoint(UUID(hook)).disabled_reason
    # A distribution is created and approved; the deliverer sends both events.
    did = ledger.create_distribution(asset_id=story.import_asset(ledger), idempotency_key="k",
                                     terms=story.sample_terms(), actor="maker")
    at = ledger.approve_distribution(did, "checker")
    deliverer = Deliverer(ledger, database_url, schema, policy=Policy(allow=LOOPBACK))
    try:
        log = client.get(f"/webhooks/{hook}/deliveries", headers=admin,
                         params={"wait_for_position": at}).json()["items"]
        assert [d["type"] for d in log] == ["distribution.approved", "distribution.created"]
        assert all(d["status"] == "pending" and d["next_attempt_at"] for d in log)
        while deliverer.deliver_due():
            pass
        log = client.get(f"/webhooks/{hook}/deliveries", headers=admin).json()["items"]
        assert [(d["status"], d["attempts"], d["last_status"]) for d in log] == [
            ("delivered", 1, 200)] * 2
        assert log[0]["attempt_log"][0]["latency_ms"] >= 0
        assert log[0]["attempt_log"][0]["response"] == "ok"
        # One event is redelivered: the same id and body again.
        first = log[1]["event_id"]
        again = client.post(f"/webhooks/{hook}/deliveries/{first}/redeliver", headers=admin)
        assert again.status_code == 202, again.text
        assert client.post(f"/webhooks/{hook}/deliveries/{hook}/redeliver",
                           headers=admin).status_code == 404
        while deliverer.deliver_due():
            pass
    finally:
        deliverer.close()
    ids = [r.headers["Webhook-Id"] for r in receiver.received]
    assert ids == [first, log[0]["event_id"], first]
    assert json.loads(receiver.received[2].body) == json.loads(receiver.received[0].body)
    log = client.get(f"/webhooks/{hook}/deliveries", headers=admin).json()["items"]
    assert log[1]["attempts"] == 2 and len(log[1]["attempt_log"]) == 2
    # A range is redelivered: both events again, in order; none of them had failed.
    since = {"since": "2000-01-01T00:00:00Z"}
    failed_only = client.post(f"/webhooks/{hook}/deliveries/redeliver", headers=admin,
                              json={**since, "only_failed": True})
    assert failed_only.status_code == 202 and failed_only.json() == {"events": 0}
    both = client.post(f"/webhooks/{hook}/deliveries/redeliver", headers=admin, json=since)
    assert both.status_code == 202 and both.json() == {"events": 2}
    assert client.post(f"/webhooks/{first}/deliveries/redeliver", headers=admin,
                       json=since).status_code == 404
    deliverer = Deliverer(ledger, database_url, schema, policy=Policy(allow=LOOPBACK))
    try:
        while deliverer.deliver_due():
            pass
    finally:
        deliverer.close()
    assert [r.headers["Webhook-Id"] for r in receiver.received[3:]] == [first, log[0]["event_id"]]
    # The admin rotates the secret: a new one, shown once; others may not; an unknown
    # endpoint is a 404. The ledger records who rotated, never a secret.
    assert client.post(f"/webhooks/{hook}/rotate-secret",
                       headers=auth(keys["operator"])).status_code == 403
    assert client.post(f"/webhooks/{did}/rotate-secret", headers=admin).status_code == 404
    rotated = client.post(f"/webhooks/{hook}/rotate-secret", headers=admin)
    assert rotated.status_code == 200, rotated.text
    new_secret = rotated.json()["secret"]
    assert new_secret.startswith("whsec_") and new_secret != secret
    until = datetime.fromisoformat(rotated.json()["previous_secret_valid_until"])
    assert until > datetime.now(UTC) + timedelta(hours=23)  # the default grace: 24 h
    stored = ledger.recorder.select_notifications(start=1, limit=10_000)
    assert not any(s.encode() in n.state for n in stored for s in (secret, new_secret))
    endpoint = ledger.get_webhook_endpoint(UUID(hook))
    assert endpoint.secret_version == endpoint.version and endpoint.previous_version == 1
