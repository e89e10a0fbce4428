"""Role by endpoint: who may call what. "Allowed" means neither 401 nor 403 (the dummy ids
may well give 404 or 422 after authorization)."""

from __future__ import annotations

import pytest

from tests.api.conftest import auth

ID = "00000000-0000-0000-0000-000000000001"
ROLES = ("viewer", "operator", "approver", "admin", "auditor")
ALL, OPERATE, APPROVE = set(ROLES), {"operator", "admin"}, {"approver", "admin"}
ADMIN = {"admin"}
REPORT = {"operator", "admin", "auditor"}

ENDPOINTS = [
    ("POST", "/assets/import", {"token": "0.0.1234", "payment_token": "0.0.99",
                                "payment_decimals": 6}, OPERATE),
    ("GET", "/assets", None, ALL),
    ("GET", f"/assets/{ID}", None, ALL),
    ("GET", f"/assets/{ID}/holders", None, ALL),
    ("POST", f"/assets/{ID}/pause", {"reason": "x"}, OPERATE),
    ("POST", f"/assets/{ID}/resume", None, OPERATE),
    ("POST", f"/assets/{ID}/sync", {"enabled": False}, OPERATE),
    ("PUT", f"/assets/{ID}/bond-terms", {"coupon_rate": "0.05", "frequency": "QUARTERLY",
                                          "day_count": "ACT_360", "issue_date": "2027-01-01"},
     OPERATE),
    ("POST", f"/assets/{ID}/coupon-schedule", {}, OPERATE),
    ("PUT", f"/assets/{ID}/sweep-accounts", {"tax_authority": "0x" + "7a" * 20}, ADMIN),
    ("GET", f"/assets/{ID}/sweep-accounts", None, ALL),
    ("POST", "/distributions", {"asset_id": ID, "kind": "DIVIDEND",
                                "rule": {"kind": "PRO_RATA", "value": "5"},
                                "record_date": "2026-01-01T00:00:00Z"}, OPERATE),
    ("POST", "/distributions/preview", {"asset_id": ID, "kind": "DIVIDEND",
                                        "rule": {"kind": "PRO_RATA", "value": "5"},
                                        "record_date": "2026-01-01T00:00:00Z"}, OPERATE),
    ("GET", "/distributions", None, ALL),
    ("GET", f"/distributions/{ID}", None, ALL),
    ("GET", f"/distributions/{ID}/holders", None, ALL),
    ("GET", f"/distributions/{ID}/batches", None, ALL),
    ("POST", f"/distributions/{ID}/approve", None, APPROVE),
    ("POST", f"/distributions/{ID}/execute", None, OPERATE),
    ("POST", f"/distributions/{ID}/cancel", {"reason": "x"}, APPROVE),
    ("GET", f"/distributions/{ID}/report.csv", None, ALL),
    ("GET", f"/distributions/{ID}/events", None, ALL),
    ("GET", f"/distributions/{ID}/as-of?as_of=1", None, ALL),
    ("GET", f"/distributions/{ID}/as-of/leaves?as_of=1", None, ALL),
    ("GET", f"/holders/{'0x' + 'ab' * 20}/payments", None, ALL),
    ("GET", f"/holders/{'0x' + 'ab' * 20}/payments.csv", None, ALL),
    ("GET", "/reports/tax/2026", None, REPORT),
    ("GET", "/reports/tax/2026/report.csv", None, REPORT),
    ("GET", "/reports/withheld", None, REPORT),
    ("GET", "/reports/withheld.csv", None, REPORT),
    ("GET", f"/reports/withheld/{ID}", None, REPORT),
    ("GET", f"/reports/withheld/{ID}/holders.csv", None, REPORT),
    ("GET", "/reports/issuer", None, REPORT),
    ("GET", "/reports/issuer.csv", None, REPORT),
    ("GET", f"/reports/statements/{'0x' + 'ab' * 20}", None, REPORT),
    ("GET", f"/reports/statements/{'0x' + 'ab' * 20}/totals.csv", None, REPORT),
    ("GET", "/reports/unclaimed", None, REPORT),
    ("GET", "/reports/unclaimed.csv", None, REPORT),
    ("GET", "/metrics", None, ALL),
    ("GET", "/scheduler", None, ALL),
    ("POST", f"/distributions/{ID}/retry", {"reason": "x"}, APPROVE),
    ("GET", f"/distributions/{ID}/claims/{'0x' + 'ab' * 20}", None, ALL),
    ("POST", f"/distributions/{ID}/reclaim", {"reason": "x"}, OPERATE),
    ("POST", f"/distributions/{ID}/sweeps", {"amount": "1", "reason": "x"}, OPERATE),
    ("POST", f"/distributions/{ID}/treasury-ops/1/approve", None, APPROVE),
    ("GET", f"/distributions/{ID}/treasury-ops", None, ALL),
    ("GET", f"/assets/{ID}/vault", None, ALL),
    ("GET", "/vault/upgrade-check?target=PayoutVaultV2", None, ALL),
    ("POST", f"/assets/{ID}/vault/requests", {"action": "PAUSE", "reason": "x"}, ADMIN),
    ("POST", f"/assets/{ID}/vault/requests/1/approve", None, APPROVE),
    ("GET", f"/assets/{ID}/vault/requests", None, ALL),
    ("GET", f"/assets/{ID}/vault/observed", None, ALL),
    ("POST", "/schedules", {"asset_id": ID, "kind": "DIVIDEND",
                            "rule": {"kind": "PER_UNIT", "value": "5"},
                            "cadence": {"recurrence": "DAILY",
                                        "start": "2027-01-01T00:00:00Z", "count": 3}}, OPERATE),
    ("GET", "/schedules", None, ALL),
    ("GET", f"/schedules/{ID}", None, ALL),
    ("POST", f"/schedules/{ID}/approve", None, APPROVE),
    ("POST", f"/schedules/{ID}/pause", {"reason": "x"}, OPERATE),
    ("POST", f"/schedules/{ID}/resume", None, OPERATE),
    ("POST", f"/schedules/{ID}/cancel", {"reason": "x"}, APPROVE),
    ("POST", "/webhooks", {"url": "http://10.0.0.1/x", "event_types": ["batch.blocked"]},
     ADMIN),
    ("GET", "/webhooks", None, ADMIN),
    ("GET", f"/webhooks/{ID}", None, ADMIN),
    ("PATCH", f"/webhooks/{ID}", {"description": "x"}, ADMIN),
    ("POST", f"/webhooks/{ID}/disable", None, ADMIN),
    ("POST", f"/webhooks/{ID}/enable", None, ADMIN),
    ("POST", f"/webhooks/{ID}/rotate-secret", None, ADMIN),
    ("GET", f"/webhooks/{ID}/deliveries", None, ADMIN),
    ("POST", f"/webhooks/{ID}/deliveries/{ID}/redeliver", None, ADMIN),
    ("POST", f"/webhooks/{ID}/deliveries/redeliver", {"since": "2026-01-01T00:00:00Z"},
     ADMIN),
]
# and the OpenAPI document and docs page under /schema
PUBLIC = {"/health", "/health/live", "/health/ready", "/bare"}


def test_every_route_is_in_the_matrix_or_public(client):
    """The guard admits a route without `opt["roles"]` to anyone: a route someone forgets to
    give roles, or to list here, fails this test instead of going out unauthenticated."""
    from litestar.routes import HTTPRoute

    listed = {(m, p.split("?")[0].replace(ID, "{}").replace("0x" + "ab" * 20, "{}"))
              for m, p, _, _ in ENDPOINTS}
    for route in client.app.routes:
        if not isinstance(route, HTTPRoute) or route.path.startswith("/schema"):
            continue
        for method, (handler, _) in route.route_handler_map.items():
            if method in {"HEAD", "OPTIONS"}:
                continue
            path = route.path_format.replace("{distribution_id}", "{}").replace(
                "{asset_id}", "{}").replace("{schedule_id}", "{}").replace("{account}", "{}")
            path = path.replace("{endpoint_id}", "{}").replace("{event_id}", "{}").replace(
                "{year}", "2026").replace("{number}", "1")
            if handler.opt.get("roles") is None:
                assert route.path in PUBLIC, f"{method} {route.path} has no roles"
            else:
                assert (method, path) in listed, f"{method} {route.path} is not in the matrix"


def test_every_role_on_every_endpoint(client, keys):
    table = []
    for method, path, body, allowed in ENDPOINTS:
        headers = {"Idempotency-Key": "authz"}
        anonymous = client.request(method, path, json=body, headers=headers)
        assert anonymous.status_code == 401, (method, path)
        for role in ROLES:
            r = client.request(method, path, json=body, headers=auth(keys[role], **headers))
            ok = r.status_code not in (401, 403)
            table.append((method, path, role, r.status_code))
            assert ok == (role in allowed), (method, path, role, r.status_code, r.text)
            assert r.status_code < 500, (method, path, role, r.text)


@pytest.mark.parametrize("key", ["", "mpk_x_y", "garbage", "mpk_000000000000_wrong"])
def test_unknown_keys_are_401(client, key):
    assert client.get("/assets", headers={"X-API-Key": key}).status_code == 401


def test_health_and_docs_are_public(client):
    assert client.get("/health").status_code == 200
    assert client.get("/schema/openapi.json").json()["openapi"].startswith("3.1")
    page = client.get("/schema")
    assert page.status_code == 200 and "cdn" not in page.text.lower()
