"""A distribution's life told to a real receiver on loopback: signed, in order, retried,
redelivered, and never sent where it may not go."""

from __future__ import annotations

import json
import time
from uuid import UUID

import psycopg
import pytest
from psycopg.rows import dict_row

from app.webhook_delivery import Deliverer, Policy, Refused
from app.webhooks import DELIVERIES, OUTBOX, Webhooks, secret_of, verify
from app.webhooks import views as views_of
from devtools import payout_story as story
from domain.errors import InvalidInput
from domain.planning import GasModel
from domain.webhooks import EVENT_TYPES
from projections.registry import open_projection
from projections.runner import Runner
from projections.webhooks import Webhooks as WebhooksProjection

SMALL_BATCHES = GasModel(per_leaf=1_000_000, budget=12_000_000)


def drain(deliverer: Deliverer, outbox: Runner, rounds: int = 50) -> None:
    for _ in range(rounds):
        outbox.catch_up()
        if not deliverer.deliver_due():
            return


def types(receiver) -> list[str]:
    return [json.loads(r.body)["type"] for r in receiver.received]


def test_a_lifecycle_is_told_signed_and_in_order(ledger, webhooks, receiver, outbox,
                                                 deliverer, database_url, schema):
    # An admin registers an endpoint for every event type; its secret is shown once.
    created = webhooks.create(url=receiver.url, event_types=list(EVENT_TYPES),
                              description="treasury", actor="admin")
    assert created.secret.startswith("whsec_")
    # A distribution is created, approved, snapshotted, committed and paid; every 7th
    # holder's payment fails (11 batches of 3 holders: 5 of them have a failure).
    did = story.snapshotted(ledger, story.import_asset(ledger), 30, gas_model=SMALL_BATCHES)
    failed = story.execute(ledger, did, fail_every=7, retry=False)
    assert failed > 0
    drain(deliverer, outbox)
    # The receiver heard its whole life, in the ledger's order, failures batched.
    heard = types(receiver)
    settled_with_failures = sum(1 for b in ledger.batches(did) if b.failed_leaves())
    assert heard[:4] == ["distribution.created", "distribution.approved",
                         "distribution.committed", "distribution.executing"]
    assert sorted(heard[4:]) == ["distribution.completed_with_failures",
                                 *["holder_payments.failed"] * settled_with_failures]
    # ... in the order of the ledger's positions (the last batch settles in the same save as
    # the distribution's completion, which the fact applier records first).
    with psycopg.connect(database_url) as conn:
        order = [str(r[0]) for r in conn.execute(
            f"SELECT event_id FROM {views_of(schema)}.{OUTBOX} ORDER BY position")]
    assert [r.headers["Webhook-Id"] for r in receiver.received] == order
    # Each request is signed with the endpoint's secret over its timestamp and body, and
    # carries the event's id; no id twice.
    now = time.time()
    for request in receiver.received:
        body = json.loads(request.body)
        assert verify(created.secret, request.headers["Webhook-Signature"], request.body, now)
        assert request.headers["Webhook-Id"] == body["id"]
        assert request.headers["Webhook-Signature"].startswith(
            f"t={request.headers['Webhook-Timestamp']},v1=")
        assert body["data"]["distribution_id"] == str(did)
        assert not verify("whsec_other", request.headers["Webhook-Signature"], request.body, now)
    assert len({json.loads(r.body)["id"] for r in receiver.received}) == len(heard)
    failures = [json.loads(r.body)["data"] for r in receiver.received
                if json.loads(r.body)["type"] == "holder_payments.failed"]
    assert sum(f["failed"] for f in failures) == failed
    assert secret_of(database_url, schema, created.endpoint_id) == created.secret
    # A stale signature is refused by a receiver checking the timestamp.
    first = receiver.received[0]
    assert not verify(created.secret, first.headers["Webhook-Signature"], first.body, now + 600)


def test_failures_retry_with_backoff_and_hold_the_order(ledger, webhooks, receiver, outbox,
                                                        deliverer, clock):
    webhooks.create(url=receiver.url, event_types=["distribution.created",
                                                   "distribution.approved"],
                    description="", actor="admin")
    asset = story.import_asset(ledger)
    did = ledger.create_distribution(asset_id=asset, idempotency_key="k",
                                     terms=story.sample_terms(), actor="maker")
    ledger.approve_distribution(did, "checker")
    outbox.catch_up()
    # The receiver fails twice: the first event waits for its backoff, and the second event
    # of the same distribution is not sent before it.
    receiver.fail = 2
    [outcome] = deliverer.deliver_due()
    assert outcome.action == "retry"
    assert deliverer.due() == []  # not due yet; the approval waits behind the creation
    clock.advance(seconds=10)  # the first backoff is 5..10 s
    [outcome] = deliverer.deliver_due()
    assert outcome.action == "retry"
    clock.advance(seconds=10)
    assert deliverer.due() == []  # the second backoff is 10..20 s
    clock.advance(seconds=10)
    [outcome] = deliverer.deliver_due()
    assert outcome.action == "delivered"
    [outcome] = deliverer.deliver_due()
    assert outcome.action == "delivered"
    assert types(receiver) == ["distribution.created"] * 3 + ["distribution.approved"]
    assert len({r.headers["Webhook-Id"] for r in receiver.received[:3]}) == 1
    # Delivered ids are never sent again by a late job or a second deliverer.
    first = UUID(receiver.received[0].headers["Webhook-Id"])
    assert deliverer.deliver(first).action == "skipped"
    assert len(receiver.received) == 4


def test_a_redelivery_sends_the_same_event_again(ledger, webhooks, receiver, outbox,
                                                 deliverer):
    webhooks.create(url=receiver.url, event_types=["distribution.created"], description="",
                    actor="admin")
    ledger.create_distribution(asset_id=story.import_asset(ledger), idempotency_key="k",
                               terms=story.sample_terms(), actor="maker")
    drain(deliverer, outbox)
    [sent] = receiver.received
    deliverer.redeliver(UUID(sent.headers["Webhook-Id"]))
    drain(deliverer, outbox)
    assert [r.headers["Webhook-Id"] for r in receiver.received] == [sent.headers["Webhook-Id"]] * 2
    assert receiver.received[1].body == sent.body


def test_private_destinations_are_refused_at_creation_and_at_delivery(
        ledger, database_url, schema, receiver, outbox, clock):
    strict = Webhooks(ledger, database_url, schema)  # no allow-list
    for url in ("http://127.0.0.1:9/x", "http://10.1.2.3/x", "http://169.254.169.254/x",
                "http://[::1]/x", "http://localhost/x", "ftp://example.com/x",
                "http://user:pw@example.com/x", "http://[::ffff:10.0.0.1]/x"):
        with pytest.raises(InvalidInput):
            strict.create(url=url, event_types=["distribution.created"], description="",
                          actor="admin")
    # A public name passes at creation, but resolves to loopback at delivery (DNS
    # rebinding): nothing is sent, and the attempt says why.
    hook = strict.create(url=receiver.url.replace("127.0.0.1", "hooks.example.com"),
                         event_types=["distribution.created"], description="", actor="admin")
    rebound = Deliverer(ledger, database_url, schema, clock=clock,
                        resolver=lambda host, port: [__import__("ipaddress").ip_address(
                            "127.0.0.1")])
    try:
        ledger.create_distribution(asset_id=story.import_asset(ledger), idempotency_key="k",
                                   terms=story.sample_terms(), actor="maker")
        outbox.catch_up()
        [outcome] = rebound.deliver_due()
        assert outcome.action == "retry" and "refused" in outcome.detail
        assert receiver.received == []
        with pytest.raises(Refused):
            rebound._post("http://hooks.example.com/x", b"{}", {})
    finally:
        rebound.close()
    assert hook.endpoint_id


def test_a_rebuilt_outbox_has_the_same_event_ids(ledger, webhooks, receiver, outbox,
                                                 deliverer, views, database_url, schema):
    webhooks.create(url=receiver.url, event_types=list(EVENT_TYPES), description="",
                    actor="admin")
    did = story.snapshotted(ledger, story.import_asset(ledger), 12, gas_model=SMALL_BATCHES)
    story.execute(ledger, did, fail_every=5, retry=False)
    drain(deliverer, outbox)
    sent = len(receiver.received)
    fresh = Runner(ledger, open_projection(views, WebhooksProjection, suffix="_fresh"))
    fresh.catch_up()
    query = "SELECT event_id, type, data, position FROM {}.{} ORDER BY event_id"
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        live = conn.execute(query.format(views_of(schema), OUTBOX)).fetchall()
        rebuilt = conn.execute(query.format(views_of(schema), OUTBOX + "_fresh")).fetchall()
        delivered = conn.execute(f"SELECT count(*) AS n FROM {views_of(schema)}.{DELIVERIES}"
                                 " WHERE status = 'delivered'").fetchone()
    assert live == rebuilt and len(live) == sent
    assert delivered is not None and delivered["n"] == sent
    # Replaying the live projection from zero invents nothing either: no new sends.
    drain(deliverer, outbox)
    assert len(receiver.received) == sent


def test_an_endpoint_failing_again_and_again_is_disabled(ledger, database_url, schema,
                                                        webhooks, receiver, outbox, clock):
    hook = webhooks.create(url=receiver.url, event_types=["distribution.created"],
                           description="", actor="admin")
    receiver.status = 503
    flaky = Deliverer(ledger, database_url, schema, clock=clock,
                      policy=Policy(timeout=2.0, allow=("127.0.0.1",), disable_after=3))
    try:
        ledger.create_distribution(asset_id=story.import_asset(ledger), idempotency_key="k",
                                   terms=story.sample_terms(), actor="maker")
        outbox.catch_up()
        for _ in range(3):
            [outcome] = flaky.deliver_due()
            assert outcome.action == "retry" and outcome.status_code == 503
            clock.advance(hours=1)
        endpoint = ledger.get_webhook_endpoint(hook.endpoint_id)
        assert not endpoint.active and "3 consecutive" in endpoint.disabled_reason
        outbox.catch_up()
        assert flaky.due() == []  # nothing goes to a disabled endpoint
        # Responses are kept to their first 300 bytes.
        with psycopg.connect(database_url) as conn:
            lengths = conn.execute(f"SELECT length(response) FROM {views_of(schema)}"
                                   ".webhook_attempts").fetchall()
        assert lengths and all(n == 300 for (n,) in lengths)
    finally:
        flaky.close()


def test_deliveries_give_up_after_three_days(ledger, webhooks, receiver, outbox, deliverer,
                                             clock):
    webhooks.create(url=receiver.url, event_types=["distribution.created"], description="",
                    actor="admin")
    receiver.status = 500
    ledger.create_distribution(asset_id=story.import_asset(ledger), idempotency_key="k",
                               terms=story.sample_terms(), actor="maker")
    outbox.catch_up()
    actions = []
    for _ in range(40):
        clock.advance(hours=7)
        actions.extend(o.action for o in deliverer.deliver_due())
        if actions and actions[-1] == "gave-up":
            break
    assert actions[-1] == "gave-up" and set(actions[:-1]) == {"retry"}
    assert 8 <= len(actions) <= 14  # 10 s doubling, capped at 6 h, within 3 days


def test_a_slow_receiver_is_retried_and_a_gone_one_is_disabled_at_once(
        ledger, webhooks, receiver, outbox, database_url, schema, clock):
    hook = webhooks.create(url=receiver.url, event_types=["distribution.created",
                                                          "distribution.approved"],
                           description="", actor="admin")
    did = ledger.create_distribution(asset_id=story.import_asset(ledger), idempotency_key="k",
                                     terms=story.sample_terms(), actor="maker")
    ledger.approve_distribution(did, "checker")
    outbox.catch_up()
    impatient = Deliverer(ledger, database_url, schema, clock=clock,
                          policy=Policy(timeout=0.5, allow=("127.0.0.1",)))
    try:
        # An answer slower than the timeout is a failed attempt: retried after a backoff.
        receiver.delay = 1.0
        [outcome] = impatient.deliver_due()
        assert outcome.action == "retry" and "Timeout" in outcome.detail
        receiver.delay = 0.0
        clock.advance(seconds=10)
        # The receiver then answers 410 Gone: the endpoint is disabled at once (not after
        # 20 failures), by an event that says why; its events wait, undelivered.
        receiver.status = 410
        [outcome] = impatient.deliver_due()
        assert outcome.status_code == 410 and outcome.action == "retry"
        endpoint = ledger.get_webhook_endpoint(hook.endpoint_id)
        assert not endpoint.active and "410 Gone" in endpoint.disabled_reason
        outbox.catch_up()
        clock.advance(hours=1)
        assert impatient.due() == [] and impatient.deliver_due() == []
        # Enabled again (the receiver is back): both events go, in order, the first with
        # the id it had in every earlier attempt.
        receiver.status = 200
        webhooks.enable(hook.endpoint_id, "admin")
        drain(impatient, outbox)
    finally:
        impatient.close()
    assert types(receiver) == ["distribution.created"] * 3 + ["distribution.approved"]
    assert len({r.headers["Webhook-Id"] for r in receiver.received[:3]}) == 1
