"""GET /distributions/{id}/as-of and …/as-of/leaves: the distribution and a page of its
leaves as the ledger had recorded them at a position or a time, replayed from the events."""

from __future__ import annotations

from app.audit import history
from app.audit_asof import distribution_as_of
from devtools import payout_story as story
from domain.batch import PayoutBatch
from domain.planning import GasModel
from tests.api.conftest import auth, chain, client, keys, queue  # noqa: F401  # fixtures
from tests.projections.conftest import projector, views  # noqa: F401  # fixtures

SMALL = GasModel(per_leaf=1_000_000, budget=12_000_000)  # 11 leaves per batch


def test_the_distribution_and_a_leaf_page_as_they_stood(ledger, client, keys):  # noqa: F811
    asset = story.import_asset(ledger)
    did = story.snapshotted(ledger, asset, 30, gas_model=SMALL)
    snapshotted_at = ledger.recorder.max_notification_id()
    story.execute(ledger, did, fail_every=7, retry=False)
    now = ledger.recorder.max_notification_id()
    auditor = auth(keys["auditor"])
    # At the snapshot: totals fixed, nothing paid; every leaf of a page pending.
    then = client.get(f"/distributions/{did}/as-of?as_of={snapshotted_at}", headers=auditor)
    assert then.status_code == 200, then.text
    body = then.json()
    assert (body["status"], body["paid_count"], body["amount_paid"]) == ("SNAPSHOTTED", 0, "0")
    assert body["position"] == snapshotted_at and body["holders"] == 30
    page = client.get(f"/distributions/{did}/as-of/leaves?as_of={snapshotted_at}&first_leaf=5"
                      "&limit=10", headers=auditor).json()
    assert [i["leaf_index"] for i in page["items"]] == list(range(5, 15))  # across 2 batches
    assert {i["outcome"] for i in page["items"]} == {"PENDING"}
    # Now: the same as the full replay says, leaf by leaf.
    full = distribution_as_of(ledger, did, position=now)
    body = client.get(f"/distributions/{did}/as-of?as_of={now}", headers=auditor).json()
    assert (body["status"], body["amount_paid"]) == ("COMPLETED_WITH_FAILURES",
                                                    str(full.distribution.amount_paid))
    leaves = client.get(f"/distributions/{did}/as-of/leaves?as_of={now}&limit=500",
                        headers=auditor).json()["items"]
    expected = {i: (b.outcomes[i].value if i in b.outcomes else "PENDING")
                for b in full.batches for i in b.leaves}
    assert {i["leaf_index"]: i["outcome"] for i in leaves} == expected
    assert "FAILED" in expected.values()
    # As of a time: the Approved event's time answers the Approved state.
    approved = history(ledger, did)[1]
    r = client.get(f"/distributions/{did}/as-of", params={"as_of": approved.time.isoformat()},
                   headers=auditor)
    assert r.json()["status"] == "APPROVED" and r.json()["position"] == approved.position
    # Before it existed: 404; not a position or a time: 400.
    created = history(ledger, did)[0]
    assert client.get(f"/distributions/{did}/as-of?as_of={created.position - 1}",
                      headers=auditor).status_code == 404
    assert client.get(f"/distributions/{did}/as-of?as_of=yesterday",
                      headers=auditor).status_code == 400


def _pages(client, url: str, headers: dict[str, str]) -> list[dict]:  # noqa: F811
    """Every item of a holders listing, following next_cursor."""
    items: list[dict] = []
    cursor = None
    while True:
        r = client.get(url + (f"&cursor={cursor}" if cursor else ""), headers=headers)
        assert r.status_code == 200, r.text
        items += r.json()["items"]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            return items


def test_as_of_on_the_distribution_and_holders_routes(ledger, client, keys,  # noqa: F811
                                                      monkeypatch):
    asset = story.import_asset(ledger)
    did = story.snapshotted(ledger, asset, 30, gas_model=SMALL)  # one SKIPPED holder
    snapshotted_at = ledger.recorder.max_notification_id()
    story.execute(ledger, did, fail_every=7, retry=False)
    head = ledger.recorder.max_notification_id()
    viewer = auth(keys["viewer"])
    # Before payment: the earlier status, and every holder unpaid, paged with the cursor.
    then = client.get(f"/distributions/{did}?as_of={snapshotted_at}", headers=viewer)
    assert then.status_code == 200, then.text
    assert then.headers["X-As-Of-Position"] == str(snapshotted_at)
    body = then.json()
    assert (body["status"], body["paid_count"], body["committed_at"]) == ("SNAPSHOTTED", 0, None)
    holders = _pages(client, f"/distributions/{did}/holders?as_of={snapshotted_at}&limit=4",
                     viewer)
    assert [h["position"] for h in holders] == list(range(30))
    assert sorted(h["status"] for h in holders) == ["PENDING"] * 29 + ["SKIPPED"]
    # At the head: what the read models show, field by field, replayed from the ledger.
    now = client.get(f"/distributions/{did}?as_of={head}", headers=viewer).json()
    read = client.get(f"/distributions/{did}?wait_for_position={head}", headers=viewer).json()
    assert now["status"] == "COMPLETED_WITH_FAILURES"
    assert {k: v for k, v in now.items() if k != "updated_at"} == \
        {k: v for k, v in read.items() if k != "updated_at"}
    # Its batches are replayed for their statuses without their holders: not one entitlement
    # is rebuilt (at 100,000 holders, rebuilding them all was most of this route's time).
    rebuilt: list[object] = []
    entitle = PayoutBatch._entitle
    monkeypatch.setattr(PayoutBatch, "_entitle",
                        lambda batch, record: (rebuilt.append(record), entitle(batch, record)))
    assert client.get(f"/distributions/{did}?as_of={head}", headers=viewer).json() == now
    assert rebuilt == []
    monkeypatch.undo()
    for query in ("limit=6", "status=FAILED&limit=2"):
        replayed = _pages(client, f"/distributions/{did}/holders?as_of={head}&{query}", viewer)
        projected = _pages(client, f"/distributions/{did}/holders?wait_for_position={head}"
                           f"&{query}", viewer)
        assert replayed == projected and replayed
    # Not a position or a time: 400; past the ledger's last position: 422; both problems.
    for route in (f"/distributions/{did}", f"/distributions/{did}/holders"):
        bad = client.get(f"{route}?as_of=yesterday", headers=viewer)
        future = client.get(f"{route}?as_of={head + 1}", headers=viewer)
        assert (bad.status_code, future.status_code) == (400, 422)
        assert {bad.headers["content-type"], future.headers["content-type"]} == {
            "application/problem+json"}
