"""The REST API end to end: real PostgreSQL, real projections, a real (py-evm) token."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from uuid import UUID

from devtools import payout_story as story
from domain.entitlements import Snapshot
from domain.planning import GasModel
from tests.api.conftest import auth

USD = "0x" + "b2" * 20
BODY = {"kind": "DIVIDEND", "rule": {"kind": "PRO_RATA", "value": "1000000000"},
        "record_date": "2026-06-30T00:00:00Z", "withholding_bps": 1000, "concept": "Q2"}


def imported(client, keys, chain):
    r = client.post("/assets/import", json={"token": chain.token, "payment_token": USD,
                                            "payment_decimals": 6},
                    headers=auth(keys["operator"]))
    assert r.status_code == 201, r.text
    return r.json()


def test_a_distribution_is_created_idempotently_and_approved_by_another_key(client, keys, chain):
    # The operator imports the token; its facts come from the contract.
    asset = imported(client, keys, chain)
    got = client.get(f"/assets/{asset['asset_id']}?wait_for_position={asset['position']}",
                     headers=auth(keys["viewer"])).json()
    assert (got["symbol"], got["decimals"], got["kind"]) == ("ACME", 2, "EQUITY")
    # Creating twice with one Idempotency-Key gives one distribution.
    body = {**BODY, "asset_id": asset["asset_id"]}
    first = client.post("/distributions", json=body,
                        headers=auth(keys["operator"], **{"Idempotency-Key": "q2"}))
    again = client.post("/distributions", json=body,
                        headers=auth(keys["operator"], **{"Idempotency-Key": "q2"}))
    assert (first.status_code, again.status_code) == (201, 200)
    did = first.json()["distribution_id"]
    assert again.json()["distribution_id"] == did
    # Read once (the row is now cached by the API process)...
    created = client.get(f"/distributions/{did}?wait_for_position={first.json()['position']}",
                         headers=auth(keys["viewer"])).json()
    assert created["status"] == "CREATED"
    # The same key with another body is a conflict, as problem+json.
    other = client.post("/distributions", json={**body, "concept": "other"},
                        headers=auth(keys["operator"], **{"Idempotency-Key": "q2"}))
    assert other.status_code == 409
    assert other.headers["content-type"].startswith("application/problem+json")
    # The maker cannot approve (an admin key is another key, but approving as the creator
    # key is refused by the domain's four-eyes rule).
    maker = client.post(f"/distributions/{did}/approve", headers=auth(keys["admin"]))
    assert maker.status_code == 200  # admin is not the creator: allowed
    # ...and read-your-writes still holds: the approval is visible at its position (the
    # projection's commit dropped the cached row), with the acting key.
    seen = client.get(f"/distributions/{did}?wait_for_position={maker.json()['position']}",
                      headers=auth(keys["viewer"])).json()
    assert seen["status"] == "APPROVED" and seen["approved_by"].startswith("key:")
    assert seen["created_by"] != seen["approved_by"]


def test_the_creator_key_cannot_approve(client, keys, chain, database_url, schema):
    from api.keys import Role, create_key

    admin2 = create_key(database_url, schema, Role.ADMIN)[1]
    asset = imported(client, keys, chain)
    made = client.post("/distributions", json={**BODY, "asset_id": asset["asset_id"]},
                       headers=auth(admin2, **{"Idempotency-Key": "k"}))
    refused = client.post(f"/distributions/{made.json()['distribution_id']}/approve",
                          headers=auth(admin2))
    assert refused.status_code == 403
    assert refused.json()["type"] == "/problems/maker-checker"


def test_holders_batches_statement_and_report_of_an_executed_distribution(
        client, keys, chain, ledger):
    # A distribution executed on the ledger (workers' facts), read through the API.
    asset = imported(client, keys, chain)
    did = story.snapshotted(ledger, UUID(asset["asset_id"]), 40, gas_model=GasModel(
        per_leaf=1_000_000, budget=12_000_000))
    story.execute(ledger, did, fail_every=9, retry=False)
    head = ledger.recorder.max_notification_id()
    viewer = auth(keys["viewer"])
    d = client.get(f"/distributions/{did}?wait_for_position={head}", headers=viewer).json()
    assert d["paid_count"] == 35 and d["failed_count"] == 4 and d["progress"] > 0.89
    failed = client.get(f"/distributions/{did}/holders?status=FAILED&wait_for_position={head}",
                        headers=viewer).json()["items"]
    assert len(failed) == 4 and all(h["failure_reason"] == "RECIPIENT_BLOCKED" for h in failed)
    page = client.get(f"/distributions/{did}/holders?limit=25", headers=viewer).json()
    rest = client.get(f"/distributions/{did}/holders?limit=25&cursor={page['next_cursor']}",
                      headers=viewer).json()
    assert len(page["items"]) + len(rest["items"]) == 40 and rest["next_cursor"] is None
    batches = client.get(f"/distributions/{did}/batches?wait_for_position={head}",
                         headers=viewer).json()["items"]
    assert len(batches) == 4 and all(b["status"] == "SETTLED" for b in batches)
    # Batches page too: three, then the last one, in order, the same rows.
    first = client.get(f"/distributions/{did}/batches?limit=3", headers=viewer).json()
    last = client.get(f"/distributions/{did}/batches?limit=3&cursor={first['next_cursor']}",
                      headers=viewer).json()
    assert [b["number"] for b in first["items"] + last["items"]] == [0, 1, 2, 3]
    assert first["items"] + last["items"] == batches and last["next_cursor"] is None
    assert client.get(f"/distributions/{did}/batches?cursor=bm90LWEtY3Vyc29y",
                      headers=viewer).status_code == 400
    account = failed[0]["account"]
    statement = client.get(f"/holders/{account.lower()}/payments?wait_for_position={head}",
                           headers=viewer).json()
    assert statement["account"] == account and statement["items"][0]["status"] == "FAILED"
    report = client.get(f"/distributions/{did}/report.csv", headers=viewer)
    assert report.status_code == 200
    lines = list(csv.reader(io.StringIO(report.text)))
    assert lines[0][:2] == ["position", "account"] and len(lines) == 41
    listed = client.get(f"/distributions?asset_id={asset['asset_id']}"
                        "&status=COMPLETED_WITH_FAILURES", headers=viewer).json()
    assert [x["distribution_id"] for x in listed["items"]] == [str(did)]


def test_bad_input_is_a_4xx_problem(client, keys, chain):
    op = auth(keys["operator"])
    cases = [
        client.post("/assets/import", json={"token": "nope", "payment_token": USD,
                                            "payment_decimals": 6}, headers=op),
        client.post("/assets/import", content=b"{not json", headers=op),
        client.post("/distributions", json={**BODY, "asset_id": "0" * 8 + "-0000-0000-0000-"
                                            + "0" * 12}, headers={**op, "Idempotency-Key": "x"}),
        client.post("/distributions", json={**BODY, "asset_id": "00000000-0000-0000-0000-"
                                            "000000000000"}, headers=op),  # no key header
        client.get("/distributions?cursor=bogus", headers=op),
        client.get("/distributions/00000000-0000-0000-0000-000000000000", headers=op),
        client.get("/distributions?wait_for_position=999999", headers=op),
        client.get("/holders/0xZZ/payments", headers=op),
        client.get("/distributions?statuss=FAILED", headers=op),  # a misspelt filter
        # a cursor decoding to ["²"]: a Unicode digit that int() refuses (was a 500)
        client.get("/distributions/00000000-0000-0000-0000-000000000000/holders"
                   "?cursor=WyJcdTAwYjIiXQ==", headers=op),
        client.post("/distributions", json={**BODY, "record_date": "0001-01-01T00:00:00+01:00",
                                            "asset_id": "00000000-0000-0000-0000-000000000000"},
                    headers={**op, "Idempotency-Key": "y"}),  # no UTC equivalent (was a 500)
    ]
    statuses = [r.status_code for r in cases]
    assert all(400 <= s < 500 for s in statuses), statuses
    assert all(r.headers["content-type"].startswith("application/problem+json") for r in cases)


def test_a_distribution_waiting_for_funds_shows_how_much(client, keys, chain, ledger):
    asset = imported(client, keys, chain)
    did = story.snapshotted(ledger, UUID(asset["asset_id"]), 5)
    story.commit_and_start(ledger, did)
    position = ledger.await_funds(did, needed=1_500, available=400)
    shown = client.get(f"/distributions/{did}?wait_for_position={position}",
                       headers=auth(keys["viewer"])).json()
    assert shown["status"] == "WAITING_FOR_FUNDS"
    assert (shown["funds_needed"], shown["funds_available"]) == ("1500", "400")


def test_a_distribution_chooses_the_hts_rail_and_shows_where_its_root_was_published(
        client, keys, chain, ledger):
    op, viewer = auth(keys["operator"]), auth(keys["viewer"])
    # The HTS rail for an asset on an EVM chain: 422 problem+json, nothing recorded.
    evm = imported(client, keys, chain)
    refused = client.post("/distributions", json={**BODY, "asset_id": evm["asset_id"],
                                                  "rail": "HTS"},
                          headers={**op, "Idempotency-Key": "hts-evm"})
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert "Hedera" in refused.json()["detail"]
    listed = client.get(f"/distributions?asset_id={evm['asset_id']}", headers=viewer).json()
    assert listed["items"] == []
    # A Hedera asset paying an HTS token (long-zero addresses): created on the HTS rail.
    hedera = ledger.import_asset(chain_id=298, token_address="0x" + "00" * 18 + "03e9",
                                 name="Hedera Equity", symbol="HEQ", decimals=2, kind="EQUITY",
                                 payment_token="0x" + "00" * 18 + "03ea", payment_decimals=6,
                                 vault_address=None, actor="importer")
    # Started ON_DEPOSIT it would wait for ever (the trigger watches the vault): 422.
    on_deposit = client.post(
        "/distributions", json={**BODY, "asset_id": str(hedera), "rail": "HTS",
                                "execution": {"kind": "AUTOMATIC", "trigger": "ON_DEPOSIT"}},
        headers={**op, "Idempotency-Key": "hts-deposit"})
    assert on_deposit.status_code == 422, on_deposit.text
    assert on_deposit.headers["content-type"].startswith("application/problem+json")
    assert "ON_DEPOSIT" in on_deposit.json()["detail"]
    made = client.post("/distributions", json={**BODY, "asset_id": str(hedera), "rail": "HTS"},
                       headers={**op, "Idempotency-Key": "hts"})
    assert made.status_code == 201, made.text
    did = UUID(made.json()["distribution_id"])
    shown = client.get(f"/distributions/{did}?wait_for_position={made.json()['position']}",
                       headers=viewer).json()
    assert (shown["rail"], shown["commitment_topic"]) == ("HTS", None)
    # Its commitment published to a topic (app.hts_commitment records these): shown.
    ledger.approve_distribution(did, "checker")
    ledger.snapshot_distribution(did, snapshot=Snapshot.from_chunks(
        [[("0x" + "00" * 18 + "0400", 100)]], 2), snapshot_ref="s", gas_model=GasModel())
    ledger.record_commitment_submission(did, transaction_id="0.0.5@1700000000.000000001",
                                        topic_id="0.0.1003", valid_start_ns=1, valid_seconds=120)
    position = ledger.publish_commitment(did, transaction_id="0.0.5@1700000000.000000001",
                                         sequence_number=7, claim_deadline=datetime(2027, 1, 1,
                                                                                    tzinfo=UTC),
                                         actor="approver")
    shown = client.get(f"/distributions/{did}?wait_for_position={position}",
                       headers=viewer).json()
    assert (shown["status"], shown["commitment_topic"], shown["commitment_sequence"]) == \
        ("COMMITTED", "0.0.1003", 7)
    assert shown["commit_tx"] == "0.0.5@1700000000.000000001"
