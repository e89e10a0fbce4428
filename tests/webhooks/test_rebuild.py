"""The live outbox rebuilt from zero mid-delivery (projections.rebuild swaps it in): every
event is still delivered, under the id it had, signed, in order per distribution; nothing is
lost and nothing goes to a disabled endpoint."""

from __future__ import annotations

import json

import psycopg
from psycopg.rows import dict_row

from app.webhooks import DELIVERIES, OUTBOX, verify
from app.webhooks import views as views_of
from devtools import payout_story as story
from domain.planning import GasModel
from domain.webhooks import EVENT_TYPES
from projections.rebuild import rebuild
from projections.webhooks import Webhooks as WebhooksProjection

SMALL_BATCHES = GasModel(per_leaf=1_000_000, budget=12_000_000)


def test_a_rebuild_mid_delivery_loses_nothing_and_sends_nothing_new(
        ledger, webhooks, receiver, outbox, deliverer, views, database_url, schema):
    live = webhooks.create(url=receiver.url, event_types=list(EVENT_TYPES), description="",
                           actor="admin")
    off = webhooks.create(url=receiver.url + "/off", event_types=list(EVENT_TYPES),
                          description="", actor="admin")
    # A distribution is created and approved while both endpoints listen; then one is
    # disabled, and the distribution goes on to be paid, some holders failing.
    asset = story.import_asset(ledger)
    did = story.snapshotted(ledger, asset, 12, gas_model=SMALL_BATCHES)
    webhooks.disable(off.endpoint_id, "admin", "retired")
    story.execute(ledger, did, fail_every=5, retry=False)
    # The deliverer has sent part of it when the outbox is rebuilt from zero and swapped in.
    outbox.catch_up()
    assert deliverer.deliver_due(limit=1)
    rebuild(ledger, views, WebhooksProjection)
    for _ in range(50):
        outbox.catch_up()
        if not deliverer.deliver_due():
            break
    # Every event of the live endpoint was delivered once, under its outbox id, in the
    # ledger's order (one distribution: one chain), each signature valid.
    v = views_of(schema)
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        expected = [str(r["event_id"]) for r in conn.execute(
            f"SELECT event_id FROM {v}.{OUTBOX} WHERE endpoint_id = %s ORDER BY position,"
            " event_id", (live.endpoint_id,))]
        states = {r["status"] for r in conn.execute(
            f"SELECT d.status FROM {v}.{OUTBOX} o LEFT JOIN {v}.{DELIVERIES} d USING"
            " (event_id) WHERE o.endpoint_id = %s", (live.endpoint_id,))}
        waiting = conn.execute(f"SELECT count(*) AS n FROM {v}.{OUTBOX} WHERE endpoint_id = %s",
                               (off.endpoint_id,)).fetchone()
    sent = [r for r in receiver.received if r.path == "/hooks"]
    assert [r.headers["Webhook-Id"] for r in sent] == expected and len(expected) > 5
    assert states == {"delivered"}
    for request in sent:
        stamp = int(request.headers["Webhook-Timestamp"])
        assert verify(live.secret, request.headers["Webhook-Signature"], request.body, stamp)
        assert json.loads(request.body)["id"] == request.headers["Webhook-Id"]
    # The disabled endpoint's events (the creation and the approval, recorded while it
    # listened) wait in the rebuilt outbox too, and nothing was sent to it.
    assert waiting is not None and waiting["n"] == 2
    assert not [r for r in receiver.received if r.path != "/hooks"]
