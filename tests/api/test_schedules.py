"""Schedules and retries through the REST API: real PostgreSQL, real Redis, the real ledger."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

import msgspec
from litestar.testing import TestClient

from api.app import Wiring, create_app
from api.keys import Role, create_key
from api.reads import ReadModels
from app.schedules import detail, view
from devtools import payout_story as story
from domain.distribution import Status
from domain.planning import GasModel
from tests.api.conftest import auth

HOURLY = {"recurrence": "HOURLY", "start": "2026-07-01T00:00:00Z", "count": 24}
RULE = {"kind": "PRO_RATA", "value": "1000000"}
ZERO = "00000000-0000-0000-0000-000000000000"


def body(asset_id, **changes):
    return {"asset_id": str(asset_id), "kind": "DIVIDEND", "rule": RULE, "cadence": HOURLY,
            "withholding_bps": 500, "concept": "hourly", **changes}


def define(client, key, payload, idempotency_key="hourly"):
    return client.post("/schedules", json=payload,
                       headers=auth(key, **{"Idempotency-Key": idempotency_key}))


def at(written):
    """Read-your-writes: a read that waits for the read model to reach a write's position."""
    return f"wait_for_position={written.json()['position']}"


def is_problem(response, status):
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    return response.json()


def test_a_schedule_is_defined_idempotently_and_approved_by_another_key(client, keys, ledger):
    asset_id = story.import_asset(ledger)
    # The operator defines an hourly schedule; the same request again is the same schedule.
    first = define(client, keys["operator"], body(asset_id))
    again = define(client, keys["operator"], body(asset_id))
    assert (first.status_code, again.status_code) == (201, 200), first.text
    sid = first.json()["schedule_id"]
    assert again.json()["schedule_id"] == sid
    # The same key with another body is a conflict, and records nothing.
    head = ledger.recorder.max_notification_id()
    other = define(client, keys["operator"], body(asset_id, concept="other"))
    assert is_problem(other, 409)["type"] == "/problems/conflict"
    assert ledger.recorder.max_notification_id() == head
    # It waits for approval, showing its cadence and template (once the read model has it).
    got = client.get(f"/schedules/{sid}?{at(first)}", headers=auth(keys["viewer"])).json()
    assert (got["status"], got["missed_policy"], got["misfire_grace_seconds"]) \
        == ("PENDING_APPROVAL", "RUN_LATEST", 60)
    assert got["cadence"] == {**HOURLY, "start": "2026-07-01T00:00:00Z", "end": None,
                              "trigger": None}
    assert got["rule"] == {"kind": "PRO_RATA", "value": "1000000"}
    assert (got["next_number"], got["spawned"], got["missed"], got["occurrences"],
            got["missed_numbers"]) == (0, 0, 0, [], [])
    # An approver (another key) approves it; the operator key may not (its role).
    assert client.post(f"/schedules/{sid}/approve",
                       headers=auth(keys["operator"])).status_code == 403
    approved = client.post(f"/schedules/{sid}/approve", headers=auth(keys["approver"]))
    assert approved.status_code == 200 and approved.json()["position"] > head
    got = client.get(f"/schedules/{sid}?{at(approved)}", headers=auth(keys["viewer"])).json()
    assert got["status"] == "ACTIVE" and got["approved_by"] != got["created_by"]


def test_the_defining_key_cannot_approve(client, keys, ledger, database_url, schema):
    # An admin key may both define and approve, but never the same schedule.
    admin2 = create_key(database_url, schema, Role.ADMIN)[1]
    sid = define(client, admin2, body(story.import_asset(ledger))).json()["schedule_id"]
    refused = client.post(f"/schedules/{sid}/approve", headers=auth(admin2))
    assert is_problem(refused, 403)["type"] == "/problems/maker-checker"
    assert ledger.get_schedule(UUID(sid)).approved_by is None


def test_pause_resume_and_cancel_follow_the_lifecycle(client, keys, ledger):
    op, approver = auth(keys["operator"]), auth(keys["approver"])
    sid = define(client, keys["operator"], body(story.import_asset(ledger))).json()["schedule_id"]
    # Nothing to pause or resume before approval.
    assert is_problem(client.post(f"/schedules/{sid}/pause", json={"reason": "x"}, headers=op),
                      409)["type"] == "/problems/illegal-transition"
    is_problem(client.post(f"/schedules/{sid}/resume", headers=op), 409)
    client.post(f"/schedules/{sid}/approve", headers=approver)
    # Paused with a reason, resumed, paused again, then cancelled by an approver.
    pause = client.post(f"/schedules/{sid}/pause", json={"reason": "audit"}, headers=op)
    assert pause.status_code == 200
    paused = client.get(f"/schedules/{sid}?{at(pause)}", headers=op).json()
    assert (paused["status"], paused["paused_reason"]) == ("PAUSED", "audit")
    is_problem(client.post(f"/schedules/{sid}/pause", json={"reason": "again"}, headers=op), 409)
    resume = client.post(f"/schedules/{sid}/resume", headers=op)
    assert resume.status_code == 200
    assert client.get(f"/schedules/{sid}?{at(resume)}", headers=op).json()["status"] == "ACTIVE"
    assert client.post(f"/schedules/{sid}/cancel", json={"reason": "x"},
                       headers=op).status_code == 403  # cancelling is an approver's call
    cancel = client.post(f"/schedules/{sid}/cancel", json={"reason": "wound up"},
                         headers=approver)
    assert cancel.status_code == 200
    # A cancelled schedule stays cancelled.
    is_problem(client.post(f"/schedules/{sid}/cancel", json={"reason": "x"}, headers=approver),
               409)
    is_problem(client.post(f"/schedules/{sid}/resume", headers=op), 409)
    assert client.get(f"/schedules/{sid}?{at(cancel)}", headers=op).json()["status"] \
        == "CANCELLED"
    # Unknown schedules are 404 problems.
    is_problem(client.post(f"/schedules/{ZERO}/approve", headers=approver), 404)
    is_problem(client.get(f"/schedules/{ZERO}", headers=op), 404)


def test_schedules_are_listed_by_asset_and_paged(client, keys, ledger):
    viewer = auth(keys["viewer"])
    acme = story.import_asset(ledger)
    other = story.import_asset(ledger, token="0x" + "a2" * 20)
    made = [define(client, keys["operator"], body(acme), f"k{i}").json()["schedule_id"]
            for i in range(3)]
    last = define(client, keys["operator"], body(other), "k0")
    elsewhere = last.json()["schedule_id"]
    # Everything, in the order defined; then one asset's, two at a time.
    listed = client.get(f"/schedules?{at(last)}", headers=viewer).json()
    assert [s["schedule_id"] for s in listed["items"]] == [*made, elsewhere]
    assert listed["next_cursor"] is None
    page = client.get(f"/schedules?asset_id={acme}&limit=2", headers=viewer).json()
    rest = client.get(f"/schedules?asset_id={acme}&limit=2&cursor={page['next_cursor']}",
                      headers=viewer).json()
    assert [s["schedule_id"] for s in page["items"] + rest["items"]] == made
    assert rest["next_cursor"] is None and page["items"][0]["key"] == "k0"
    # Cursors this API did not issue, and limits out of range, are 400 problems.
    superscript_two = "WyJcdTAwYjIiXQ=="  # ["²"]: a digit to str.isdigit, not to int()
    for query in ("cursor=bogus", "cursor=WyJ4Il0=", f"cursor={superscript_two}", "limit=0",
                  "limit=501", "assetid=x"):
        is_problem(client.get(f"/schedules?{query}", headers=viewer), 400)


def test_the_read_model_answers_what_the_cli_prints_from_the_ledger(client, keys, ledger):
    viewer = auth(keys["viewer"])
    asset_id = story.import_asset(ledger)
    sid = UUID(define(client, keys["operator"], body(asset_id)).json()["schedule_id"])
    ledger.approve_schedule(sid, "checker")
    # The scheduler first runs two and a half hours in: occurrences 0 and 1 are missed
    # (RUN_LATEST, 60 s of grace), 2 is spawned.
    ledger.fire_schedule(sid, datetime(2026, 7, 1, 2, 30, tzinfo=UTC))
    head = f"wait_for_position={ledger.recorder.max_notification_id()}"
    # GET /schedules/{id} and the list say, byte for byte, what app.schedules renders from
    # the aggregate (as `mass-payout schedules show` and `list` do).
    schedule = ledger.get_schedule(sid)
    shown = client.get(f"/schedules/{sid}?{head}", headers=viewer)
    assert shown.content == msgspec.json.encode(detail(schedule))
    assert (shown.json()["missed_numbers"], [o["number"] for o in shown.json()["occurrences"]],
            shown.json()["next_number"]) == ([0, 1], [2], 3)
    listed = client.get(f"/schedules?asset_id={asset_id}&{head}", headers=viewer)
    assert listed.content == msgspec.json.encode({"items": [view(schedule)],
                                                   "next_cursor": None})


def test_a_corporate_action_schedule_takes_no_rule(client, keys, ledger):
    asset_id = story.import_asset(ledger)
    payload = body(asset_id, cadence={"trigger": "ON_CORPORATE_ACTION_DATE"},
                   missed_policy="RUN_ALL", misfire_grace_seconds=0)
    del payload["rule"]
    # Defined without a rule; replayed later, it is still the same request.
    first = define(client, keys["operator"], payload, "dividends")
    again = define(client, keys["operator"], payload, "dividends")
    assert (first.status_code, again.status_code) == (201, 200), first.text
    got = client.get(f"/schedules/{first.json()['schedule_id']}?{at(first)}",
                     headers=auth(keys["viewer"])).json()
    assert got["cadence"]["trigger"] == "ON_CORPORATE_ACTION_DATE"
    assert (got["rule"], got["missed_policy"]) == ({"kind": "PER_UNIT", "value": "1"},
                                                   "RUN_ALL")
    # A rule is refused: each action's own amount per unit is what is paid.
    is_problem(define(client, keys["operator"], {**payload, "rule": RULE}, "with-rule"), 422)


def test_bad_schedules_are_refused_and_record_nothing(client, keys, ledger):
    asset_id = story.import_asset(ledger)
    head = ledger.recorder.max_notification_id()
    op = keys["operator"]
    refused_by_the_ledger = [
        body(asset_id, cadence={**HOURLY, "end": "2026-07-02T00:00:00Z"}),  # end and count
        body(asset_id, cadence={"recurrence": "DAILY", "count": 3}),  # no start
        body(asset_id, cadence={**HOURLY, "trigger": "ON_CORPORATE_ACTION_DATE"}),
        body(asset_id, rule=None),  # a recurring schedule needs a rule
        body(asset_id, cadence={**HOURLY, "start": "2026-07-01T00:00:00"}),  # no timezone
        body(asset_id, cadence={**HOURLY, "start": "0001-01-01T00:00:00+01:00"}),
        body(asset_id, kind="CASH_OUT"),  # principal is paid per unit
    ]
    for i, payload in enumerate(refused_by_the_ledger):
        is_problem(define(client, op, payload, f"bad{i}"), 422)
    # The document describes these: schema validation is a 400 problem.
    malformed = [
        body(asset_id, cadence={**HOURLY, "recurrence": "YEARLY"}),
        body(asset_id, missed_policy="SOMETIMES"),
        body(asset_id, misfire_grace_seconds=86_401),
        body(asset_id, cadence={**HOURLY, "count": 0}),
        body(asset_id, extra=1),
        body(asset_id, excluded=["not-an-account"]),  # the document has the account grammar
    ]
    for i, payload in enumerate(malformed):
        assert is_problem(define(client, op, payload, f"malformed{i}"), 400)["errors"]
    is_problem(client.post("/schedules", json=body(asset_id), headers=auth(op)), 400)  # no key
    is_problem(define(client, op, body(ZERO)), 404)  # no such asset
    assert ledger.recorder.max_notification_id() == head
    # A recurring distribution is a schedule now: POST /distributions refuses it.
    recurring = {"asset_id": str(asset_id), "kind": "DIVIDEND", "rule": RULE,
                 "record_date": "2026-06-30T00:00:00Z",
                 "execution": {"kind": "RECURRING", **HOURLY}}
    refused = client.post("/distributions", json=recurring,
                          headers=auth(op, **{"Idempotency-Key": "recurring"}))
    assert "schedule" in is_problem(refused, 422)["detail"]


def test_failed_payments_are_retried_once(client, keys, ledger, queue):
    # A distribution paid with a few blocked holders (the chain's facts through the ledger).
    did = story.snapshotted(ledger, story.import_asset(ledger), 30,
                            gas_model=GasModel(per_leaf=1_000_000, budget=12_000_000))
    failed = story.execute(ledger, did, fail_every=7, retry=False)
    assert failed == 4
    assert ledger.get_distribution(did).status is Status.COMPLETED_WITH_FAILURES
    approver = auth(keys["approver"])
    # Retrying is an approver's call; a leaf that was paid, or is not there, is refused.
    assert client.post(f"/distributions/{did}/retry", json={"reason": "x"},
                       headers=auth(keys["operator"])).status_code == 403
    is_problem(client.post(f"/distributions/{did}/retry",
                           json={"reason": "x", "leaf_indices": [0]}, headers=approver), 409)
    is_problem(client.post(f"/distributions/{did}/retry",
                           json={"reason": "x", "leaf_indices": [10**6]}, headers=approver), 422)
    is_problem(client.post(f"/distributions/{did}/retry",
                           json={"reason": "x", "leaf_indices": [-1]}, headers=approver), 422)
    # Every failed leaf goes out again: the distribution executes and its batches are queued.
    retried = client.post(f"/distributions/{did}/retry",
                          json={"reason": "holders unblocked"}, headers=approver)
    assert retried.status_code == 200, retried.text
    result = retried.json()
    assert (result["leaves_retried"], result["batches_unblocked"], result["queued_by"]) \
        == (4, 0, "api")
    assert result["batches_queued"] >= 1 and len(queue) == result["batches_queued"]
    assert ledger.get_distribution(did).status is Status.EXECUTING
    # The read models say so: executing again, the failures pending (still showing why they
    # failed), their batches planned again.
    viewer, at = auth(keys["viewer"]), f"wait_for_position={result['position']}"
    d = client.get(f"/distributions/{did}?{at}", headers=viewer).json()
    assert (d["status"], d["failed_count"], d["finished_at"]) == ("EXECUTING", 0, None)
    pending = client.get(f"/distributions/{did}/holders?status=PENDING&{at}",
                         headers=viewer).json()["items"]
    assert len(pending) == 4 and {h["failure_reason"] for h in pending} == {"RECIPIENT_BLOCKED"}
    batches = client.get(f"/distributions/{did}/batches?{at}", headers=viewer).json()["items"]
    assert {(b["status"], b["retries"], b["rejection"]) for b in batches} \
        == {("PLANNED", 1, None)}
    # Nothing is left to retry: a conflict, recording nothing.
    again = client.post(f"/distributions/{did}/retry", json={"reason": "again"},
                        headers=approver)
    assert is_problem(again, 409)["type"] == "/problems/illegal-transition"
    assert ledger.recorder.max_notification_id() == result["position"]
    is_problem(client.post(f"/distributions/{ZERO}/retry", json={"reason": "x"},
                           headers=approver), 404)


def test_without_a_queue_the_supervisor_queues_the_retry(ledger, database_url, schema, keys):
    did = story.snapshotted(ledger, story.import_asset(ledger), 12)
    story.execute(ledger, did, fail_every=5, retry=False)
    app = create_app(Wiring(ledger=ledger, reads=ReadModels(database_url, schema),
                            token_reader=None, queue=None))
    with TestClient(app, raise_server_exceptions=False) as client:
        retried = client.post(f"/distributions/{did}/retry",
                              json={"reason": "x", "leaf_indices": [4]},
                              headers=auth(keys["approver"]))
    assert retried.status_code == 200, retried.text
    assert {k: retried.json()[k] for k in ("leaves_retried", "batches_queued", "queued_by")} \
        == {"leaves_retried": 1, "batches_queued": 0, "queued_by": "supervisor"}
