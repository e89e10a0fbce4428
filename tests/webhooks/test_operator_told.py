"""What needs a person reaches one: a halted ingestion and an endpoint the deliverer gave up
on are on the panel's dashboard, and the halt is also a webhook event."""

from __future__ import annotations

import json
import logging
import time

import pytest

from app.webhook_delivery import Deliverer, Policy
from app.webhooks import Webhooks
from domain.cursor import ReorgDetected
from tests.api.conftest import chain, keys, queue  # noqa: F401  # fixtures
from tests.projections.conftest import projector, views  # noqa: F401  # fixtures
from tests.web.conftest import sign_in, web  # noqa: F401  # fixture
from tests.webhooks.conftest import LOOPBACK

VAULT = "0x" + "ab" * 20


def dashboard_once(web, kind: str, deadline: float = 30.0) -> str:  # noqa: F811
    """The attention fragment once the projector shows `kind` (or as it is at the deadline)."""
    give_up = time.monotonic() + deadline
    while True:
        text = web.get("/panel/fragments/attention", headers={"HX-Request": "true"}).text
        if f'data-kind="{kind}"' in text or time.monotonic() > give_up:
            return text
        time.sleep(0.1)


def test_a_halted_ingestion_is_on_the_dashboard_and_told_by_webhook(
        ledger, web, keys, receiver, database_url, schema, clock):  # noqa: F811
    sign_in(web, keys["viewer"])
    hook = Webhooks(ledger, database_url, schema, allow=LOOPBACK).create(
        url=receiver.url, event_types=["ingestion.halted"], description="", actor="admin")
    # The ingestor recorded block 10 as 0xaa; the chain now has 0xbb there (a deep reorg).
    ledger.apply_chain_facts(chain_id=1, contract=VAULT, from_block=0, to_block=10,
                             block_hash="0xaa", chain_hash_at_cursor=None, facts=[])
    for _ in range(2):  # the ingestor retries: one halt is recorded, not one per try
        with pytest.raises(ReorgDetected):
            ledger.apply_chain_facts(chain_id=1, contract=VAULT, from_block=0, to_block=12,
                                     block_hash="0xcc", chain_hash_at_cursor="0xbb", facts=[])
    cursor = ledger.get_cursor(1, VAULT)
    assert cursor is not None and cursor.halted and cursor.last_block == 10
    # The dashboard says so, with what to do.
    text = dashboard_once(web, "ingestion-halted")
    assert 'data-kind="ingestion-halted"' in text and VAULT in text
    # The endpoint hears it once, signed like every event.
    deliverer = Deliverer(ledger, database_url, schema, clock=clock,
                          policy=Policy(timeout=2.0, allow=LOOPBACK))
    try:
        give_up = time.monotonic() + 30
        while not receiver.received and time.monotonic() < give_up:
            deliverer.deliver_due()
            time.sleep(0.05)
        [request] = receiver.received
        body = json.loads(request.body)
        assert body["type"] == "ingestion.halted"
        assert body["data"]["block_number"] == 10 and body["data"]["chain_hash"] == "0xbb"
        assert body["data"]["contract"] == VAULT and "reorg" in body["data"]["reason"]
        assert request.headers["Webhook-Id"] == body["id"]
    finally:
        deliverer.close()
    assert hook.endpoint_id
    # The chain agrees with the cursor again: ingestion advances and the item goes.
    ledger.apply_chain_facts(chain_id=1, contract=VAULT, from_block=0, to_block=12,
                             block_hash="0xcc", chain_hash_at_cursor="0xaa", facts=[])
    assert ledger.get_cursor(1, VAULT).halted is None  # type: ignore[union-attr]
    give_up = time.monotonic() + 30
    while 'data-kind="ingestion-halted"' in dashboard_once(web, "none", 0) \
            and time.monotonic() < give_up:
        time.sleep(0.1)
    assert 'data-kind="ingestion-halted"' not in dashboard_once(web, "none", 0)


def test_an_endpoint_the_deliverer_disabled_is_on_the_dashboard_and_logged(
        ledger, web, keys, receiver, database_url, schema, clock, caplog):  # noqa: F811
    sign_in(web, keys["viewer"])
    webhooks = Webhooks(ledger, database_url, schema, allow=LOOPBACK)
    hook = webhooks.create(url=receiver.url, event_types=["ingestion.halted"],
                           description="", actor="admin")
    receiver.status = 503
    ledger.apply_chain_facts(chain_id=1, contract=VAULT, from_block=0, to_block=10,
                             block_hash="0xaa", chain_hash_at_cursor=None, facts=[])
    with pytest.raises(ReorgDetected):
        ledger.apply_chain_facts(chain_id=1, contract=VAULT, from_block=0, to_block=12,
                                 block_hash="0xcc", chain_hash_at_cursor="0xbb", facts=[])
    deliverer = Deliverer(ledger, database_url, schema, clock=clock,
                          policy=Policy(timeout=2.0, allow=LOOPBACK, disable_after=2))
    caplog.set_level(logging.WARNING, logger="app.webhook_delivery")
    try:
        give_up = time.monotonic() + 30
        while ledger.get_webhook_endpoint(hook.endpoint_id).active \
                and time.monotonic() < give_up:
            if deliverer.deliver_due():
                clock.advance(hours=1)  # past the backoff
            time.sleep(0.05)
    finally:
        deliverer.close()
    # Two failures in a row: disabled by the deliverer, with a log line saying so ...
    assert not ledger.get_webhook_endpoint(hook.endpoint_id).active
    assert any("disabled: 2 consecutive deliveries failed" in r.getMessage() and
               str(hook.endpoint_id) in r.getMessage() for r in caplog.records)
    # ... and on the dashboard, with what to do; an admin's own disabling is not.
    text = dashboard_once(web, "webhook-disabled")
    assert 'data-kind="webhook-disabled"' in text and receiver.url in text
    assert f"/webhooks/{hook.endpoint_id}/enable" in text
    webhooks.enable(hook.endpoint_id, "admin")
    webhooks.disable(hook.endpoint_id, "admin", "maintenance")
    give_up = time.monotonic() + 30
    while 'data-kind="webhook-disabled"' in dashboard_once(web, "none", 0) \
            and time.monotonic() < give_up:
        time.sleep(0.1)
    assert 'data-kind="webhook-disabled"' not in dashboard_once(web, "none", 0)
