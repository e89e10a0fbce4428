"""GET /distributions/{id}/events: the distribution's recorded events, paged, for every
role (the auditor's included), straight from the event store."""

from __future__ import annotations

import uuid

from devtools import payout_story as story
from tests.api.conftest import auth, chain, client, keys, queue  # noqa: F401  # fixtures
from tests.projections.conftest import projector, views  # noqa: F401  # fixtures


def test_an_auditor_pages_through_a_distributions_events(ledger, client, keys):  # noqa: F811
    # A distribution is created, approved, snapshotted and paid
    asset = story.import_asset(ledger)
    did = story.snapshotted(ledger, asset, 20)
    story.execute(ledger, did)
    # The auditor reads its events two at a time, following the cursor
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        r = client.get(f"/distributions/{did}/events", params=params,
                       headers=auth(keys["auditor"]))
        assert r.status_code == 200, r.text
        page = r.json()
        assert page["distribution_id"] == str(did)
        seen += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    # Every event, once, in order, with who acted
    assert [e["version"] for e in seen] == list(range(1, len(seen) + 1))
    assert [e["kind"] for e in seen[:2]] == ["Created", "Approved"]
    assert (seen[0]["actor"], seen[1]["actor"]) == ("maker", "checker")
    assert seen[1]["summary"] == "Approved by checker"
    positions = [e["position"] for e in seen]
    assert positions == sorted(positions)
    # A viewer sees the same page
    r = client.get(f"/distributions/{did}/events", headers=auth(keys["viewer"]))
    assert r.json()["items"] == seen


def test_unknown_ids_and_other_aggregates_are_404(ledger, client, keys):  # noqa: F811
    asset = story.import_asset(ledger)
    for unknown in (uuid.uuid4(), asset):  # an asset's id is not a distribution's
        r = client.get(f"/distributions/{unknown}/events", headers=auth(keys["auditor"]))
        assert r.status_code == 404, r.text
        assert r.headers["content-type"].startswith("application/problem+json")


def test_a_cursor_this_api_did_not_issue_is_400(ledger, client, keys):  # noqa: F811
    asset = story.import_asset(ledger)
    did = story.snapshotted(ledger, asset, 5)
    r = client.get(f"/distributions/{did}/events", params={"cursor": "bm9wZQ"},
                   headers=auth(keys["auditor"]))
    assert r.status_code == 400
