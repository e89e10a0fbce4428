"""The endpoint's rules, pure: which destinations pass, and its life as events."""

from __future__ import annotations

from ipaddress import ip_address
from uuid import uuid4

import pytest

from domain.errors import IllegalTransition, InvalidInput
from domain.webhooks import WebhookEndpoint, address_allowed, check_url


@pytest.mark.parametrize("url", [
    "https://hooks.example.com/payouts", "http://8.8.8.8:8080/x?y=1",
    "https://[2001:4860:4860::8888]/x"])
def test_public_http_urls_pass(url):
    assert check_url(url) == url


@pytest.mark.parametrize("url", [
    "ftp://example.com/x", "file:///etc/passwd", "javascript:alert(1)", "http:///x", "",
    "http://127.0.0.1/x", "http://127.1.2.3/x", "http://10.0.0.1/x", "http://172.16.0.1/x",
    "http://192.168.0.1/x", "http://169.254.169.254/latest", "http://[::1]/x",
    "http://[fe80::1]/x", "http://[fc00::1]/x", "http://[::ffff:127.0.0.1]/x",
    "http://0.0.0.0/x", "http://224.0.0.1/x", "http://localhost/x", "http://a.localhost/x",
    "http://user:pw@example.com/x", "http://example.com:99999/x", "http://exa mple.com/",
    "http://example.com/\x00"])
def test_other_destinations_are_refused(url):
    with pytest.raises(InvalidInput):
        check_url(url)


def test_the_allow_list_names_hosts_or_networks():
    assert check_url("http://127.0.0.1:8000/x", ["127.0.0.1"])
    assert check_url("http://10.2.3.4/x", ["10.0.0.0/8"])
    assert check_url("http://localhost:9/x", ["localhost"])
    with pytest.raises(InvalidInput):
        check_url("http://10.2.3.4/x", ["192.168.0.0/16", "localhost"])
    # At delivery: a name resolving to a private address passes only if allowed.
    assert not address_allowed("hooks.example.com", ip_address("10.0.0.7"), [])
    assert address_allowed("hooks.internal", ip_address("10.0.0.7"), ["hooks.internal"])
    assert address_allowed("hooks.example.com", ip_address("93.184.216.34"), [])


def test_an_endpoint_is_created_changed_disabled_and_enabled_by_events():
    endpoint = WebhookEndpoint.register(uuid4(), url="https://hooks.example.com/x",
                                        event_types=["batch.blocked", "batch.blocked"],
                                        description="treasury", actor="admin")
    assert endpoint.event_types == ["batch.blocked"] and endpoint.active
    with pytest.raises(InvalidInput):
        WebhookEndpoint.register(uuid4(), url="https://hooks.example.com/x", event_types=[],
                                 description="", actor="admin")
    with pytest.raises(InvalidInput):
        endpoint.update(actor="admin", event_types=["distribution.paid"])
    assert not endpoint.update(actor="admin", description="treasury")  # nothing changes
    assert endpoint.update(actor="admin", url="https://other.example.com/x")
    endpoint.disable("admin", "rotating\x00 keys")
    assert not endpoint.active and endpoint.disabled_reason == "rotating keys"
    with pytest.raises(IllegalTransition):
        endpoint.disable("admin", "again")
    endpoint.enable("admin")
    with pytest.raises(IllegalTransition):
        endpoint.enable("admin")
    names = [type(e).__name__ for e in endpoint.collect_events()]
    assert names == ["Created", "Updated", "Disabled", "Enabled"]


def test_the_api_offers_exactly_the_event_types_the_outbox_knows():
    from typing import get_args

    from api.controllers.webhooks import EventType
    from domain.webhooks import EVENT_TYPES

    assert sorted(get_args(EventType)) == sorted(EVENT_TYPES)
    assert {"ingestion.halted", "batch.blocked", "holder_payments.failed",
            "distribution.completed_with_failures", "schedule.occurrences_missed"} \
        <= set(EVENT_TYPES)
