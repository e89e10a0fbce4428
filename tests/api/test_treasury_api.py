"""Reclaim and sweep through the API: refused requests are 4xx problems that record nothing,
approval is four-eyes and queues the treasurer's job, and the read models show it all."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

from redis import Redis
from rq import Queue
from web3 import Web3

from app import treasury, vault_requests
from app.commands import head
from chain.contracts import deploy_vault
from devtools import payout_story as story
from tests.api.conftest import auth
from tests.projections.stories import SMALL

PROBLEM = "application/problem+json"


def committed(ledger, deadline):
    asset = story.import_asset(ledger)
    ledger.link_vault(asset, "0x" + "ee" * 20, "importer")
    did = story.snapshotted(ledger, asset, 12, key="treasury", gas_model=SMALL)
    ledger.commit_distribution(did, tx_hash="0x" + "cc" * 32, claim_deadline=deadline,
                               actor="approver")
    return did


def test_requests_are_refused_before_anything_is_recorded(client, keys, ledger):
    did = committed(ledger, datetime.now(UTC) + timedelta(days=30))
    version = ledger.get_distribution(did).version
    # Before the claim deadline a reclaim is a 422 problem
    r = client.post(f"/distributions/{did}/reclaim", json={"reason": "early"},
                    headers=auth(keys["operator"]))
    assert r.status_code == 422 and r.headers["content-type"].startswith(PROBLEM), r.text
    assert "claim window" in r.json()["detail"]
    # More than the distribution left beyond its net, or a malformed amount: 422 / 400
    left = ledger.get_distribution(did).sweepable
    too_much = client.post(f"/distributions/{did}/sweeps",
                           json={"amount": str(left + 1), "reason": "dust"},
                           headers=auth(keys["operator"]))
    assert too_much.status_code == 422 and too_much.headers["content-type"].startswith(PROBLEM)
    for amount in ("0", "-1", "1.5", "ten"):
        bad = client.post(f"/distributions/{did}/sweeps", json={"amount": amount, "reason": "x"},
                          headers=auth(keys["operator"]))
        assert bad.status_code == 400, (amount, bad.text)
    # A viewer may not ask at all
    denied = client.post(f"/distributions/{did}/reclaim", json={"reason": "x"},
                         headers=auth(keys["viewer"]))
    assert denied.status_code == 403
    assert ledger.get_distribution(did).version == version


def test_a_sweep_is_approved_by_another_principal_and_queued_for_the_treasurer(
        client, keys, ledger, redis_url, schema):
    did = committed(ledger, datetime.now(UTC) - timedelta(days=1))
    left = ledger.get_distribution(did).sweepable
    # An admin asks to sweep what is left; the same admin may not approve it
    asked = client.post(f"/distributions/{did}/sweeps",
                        json={"amount": str(left), "reason": "withheld tax"},
                        headers=auth(keys["admin"]))
    assert asked.status_code == 201, asked.text
    number = asked.json()["number"]
    own = client.post(f"/distributions/{did}/treasury-ops/{number}/approve",
                      headers=auth(keys["admin"]))
    assert own.status_code == 403 and own.json()["type"] == "/problems/maker-checker"
    # The approver approves: the treasurer's job is queued (once)
    ok = client.post(f"/distributions/{did}/treasury-ops/{number}/approve",
                     headers=auth(keys["approver"]))
    assert ok.status_code == 200 and ok.json()["queued_by"] == "api", ok.text
    jobs = Queue(treasury.QUEUE_NAME, connection=Redis.from_url(redis_url))
    try:
        assert treasury.job_id(did, number) in jobs.job_ids
    finally:
        jobs.empty()
    # A reclaim after the deadline is accepted; the read models show both, with their actors
    # (a NUL in the reason is dropped: no read model's text column could hold it)
    reclaim = client.post(f"/distributions/{did}/reclaim", json={"reason": "window\u0000 closed"},
                          headers=auth(keys["operator"]))
    assert reclaim.status_code == 201, reclaim.text
    ops = client.get(f"/distributions/{did}/treasury-ops?wait_for_position={head(ledger)}",
                     headers=auth(keys["viewer"])).json()
    assert [(o["kind"], o["state"], o["amount"]) for o in ops] == [
        ("SWEEP", "APPROVED", str(left)), ("RECLAIM", "REQUESTED", "0")]
    assert ops[0]["requested_by"] != ops[0]["approved_by"] is not None
    assert ops[1]["reason"] == "window closed"
    shown = client.get(f"/distributions/{did}?wait_for_position={head(ledger)}",
                       headers=auth(keys["viewer"])).json()
    assert (shown["reclaimed"], shown["swept"]) == ("0", "0")


def test_the_vault_as_the_chain_has_it_and_the_upgrade_check(client, keys, ledger, chain):
    # A vault on the API's chain (py-evm), linked to an imported asset
    w3 = chain.reader.w3
    admin = w3.eth.accounts[0]
    vault = deploy_vault(w3, admin=admin, treasury=w3.eth.accounts[1], grants={})
    asset = ledger.import_asset(chain_id=int(w3.eth.chain_id), token_address=chain.token,
                                name="Acme Equity", symbol="ACME", decimals=2, kind="EQUITY",
                                payment_token="0x" + "b2" * 20, payment_decimals=6,
                                vault_address=vault.address, actor="importer")
    r = client.get(f"/assets/{asset}/vault?account={admin}", headers=auth(keys["viewer"]))
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["vault"], body["paused"], body["version"]) == (vault.address, False, 1)
    assert body["treasury"] == w3.eth.accounts[1]
    assert body["roles"]["DEFAULT_ADMIN"] and not body["roles"]["TREASURER"]
    bad = client.get(f"/assets/{asset}/vault?account=0x12", headers=auth(keys["viewer"]))
    assert bad.status_code == 422
    # The layout check: V2 keeps V1; the stablecoin does not, and says which member breaks
    check = "/vault/upgrade-check?target="
    ok = client.get(check + "PayoutVaultV2", headers=auth(keys["viewer"])).json()
    assert ok["compatible"] and ok["reason"] is None
    other = client.get(check + "Stablecoin", headers=auth(keys["viewer"])).json()
    assert not other["compatible"] and "is gone" in other["reason"]
    unknown = client.get(check + "Nowhere", headers=auth(keys["viewer"]))
    assert unknown.status_code == 422 and unknown.headers["content-type"].startswith(PROBLEM)


def test_withheld_tax_is_swept_to_the_tax_authority_configured_on_the_asset(
        client, keys, ledger):
    did = committed(ledger, datetime.now(UTC) + timedelta(days=30))
    d = ledger.get_distribution(did)
    withheld, tax_office = d.totals.withheld, Web3.to_checksum_address("0x" + "7a" * 20)
    sweeps = f"/distributions/{did}/sweeps"
    # No tax authority configured yet: a sweep to it is a 422 naming what is missing
    missing = client.post(sweeps, json={"amount": "1", "reason": "tax",
                                        "destination": "TAX_AUTHORITY"},
                          headers=auth(keys["operator"]))
    assert missing.status_code == 422 and "no TAX_AUTHORITY account" in missing.json()["detail"]
    # Only an admin configures it; the zero address or the vault is a 422, nothing recorded
    accounts = f"/assets/{d.asset_id}/sweep-accounts"
    version = ledger.get_asset(d.asset_id).version
    assert client.put(accounts, json={"tax_authority": tax_office},
                      headers=auth(keys["operator"])).status_code == 403
    for bad in ("0x" + "00" * 20, "0x" + "ee" * 20, "0x12"):
        r = client.put(accounts, json={"tax_authority": bad}, headers=auth(keys["admin"]))
        assert r.status_code in (400, 422), (bad, r.text)
    assert ledger.get_asset(d.asset_id).version == version
    set_ = client.put(accounts, json={"tax_authority": tax_office, "reason": "tax office"},
                      headers=auth(keys["admin"]))
    assert set_.status_code == 200, set_.text
    # Read back from the sweep_accounts read model (at the write's position): the account,
    # and who set it, when and why
    shown = client.get(f"{accounts}?wait_for_position={set_.json()['position']}",
                       headers=auth(keys["viewer"]))
    assert shown.status_code == 200, shown.text
    body = shown.json()
    assert (body["tax_authority"], body["dust"]) == (tax_office, None)
    [configured] = body["accounts"]
    assert (configured["destination"], configured["account"], configured["reason"]) == (
        "TAX_AUTHORITY", tax_office, "tax office")
    assert configured["set_by"].startswith("key:") and configured["set_at"]  # the admin's key
    # An asset nobody imported is a 404 problem, not an empty answer
    missing = client.get(f"/assets/{uuid4()}/sweep-accounts", headers=auth(keys["viewer"]))
    assert missing.status_code == 404 and missing.headers["content-type"].startswith(PROBLEM)
    # More than the tax withheld is refused; the withheld tax is accepted, its account
    # recorded with the request for the approver to see
    over = client.post(sweeps, json={"amount": str(withheld + 1), "reason": "tax",
                                     "destination": "TAX_AUTHORITY"},
                       headers=auth(keys["operator"]))
    assert over.status_code == 422 and "tax withheld" in over.json()["detail"], over.text
    asked = client.post(sweeps, json={"amount": str(withheld), "reason": "tax",
                                      "destination": "TAX_AUTHORITY"},
                        headers=auth(keys["operator"]))
    assert asked.status_code == 201, asked.text
    ops = client.get(f"/distributions/{did}/treasury-ops?wait_for_position={head(ledger)}",
                     headers=auth(keys["viewer"])).json()
    assert [(o["destination"], o["recipient"], o["amount"]) for o in ops] == [
        ("TAX_AUTHORITY", tax_office, str(withheld))]


def test_vault_requests_are_checked_recorded_and_approved_by_another(client, keys, ledger,
                                                                      redis_url):
    asset = story.import_asset(ledger, token="0x" + "a9" * 20)
    ledger.link_vault(asset, "0x" + "ee" * 20, "importer")
    requests = f"/assets/{asset}/vault/requests"
    # Bad input is a 422 problem and records nothing: an unknown role, an invalid address,
    # an upgrade to a layout that does not keep the vault's; an action the document does not
    # list is a 400
    for body in ({"action": "GRANT", "role": "KING", "account": "0x" + "5a" * 20},
                 {"action": "GRANT", "role": "PAUSER", "account": "0x12"},
                 {"action": "UPGRADE", "target": "Stablecoin"},
                 {"action": "SELF_DESTRUCT"}):
        r = client.post(requests, json={**body, "reason": "x"}, headers=auth(keys["admin"]))
        expected = 400 if body["action"] == "SELF_DESTRUCT" else 422
        assert r.status_code == expected, r.text
        assert r.headers["content-type"].startswith(PROBLEM)
    assert ledger.vault_ops(asset) is None
    # Only an admin asks; the same admin may not approve; an approver does, queueing the job
    assert client.post(requests, json={"action": "PAUSE", "reason": "x"},
                       headers=auth(keys["operator"])).status_code == 403
    asked = client.post(requests, json={"action": "PAUSE", "reason": "incident"},
                        headers=auth(keys["admin"]))
    assert asked.status_code == 201, asked.text
    number = asked.json()["number"]
    approve = f"{requests}/{number}/approve"
    assert client.post(approve, headers=auth(keys["admin"])).status_code == 403
    jobs = Queue(vault_requests.QUEUE_NAME, connection=Redis.from_url(redis_url))
    try:
        ok = client.post(approve, headers=auth(keys["approver"]))
        assert ok.status_code == 200 and ok.json()["queued_by"] == "api", ok.text
        assert vault_requests.job_id(asset, number) in jobs.job_ids
    finally:
        jobs.empty()
    # The read model shows it, with both principals
    shown = client.get(f"{requests}?wait_for_position={head(ledger)}",
                       headers=auth(keys["viewer"])).json()
    assert [(o["action"], o["state"], o["reason"]) for o in shown] == [
        ("PAUSE", "APPROVED", "incident")]
    assert shown[0]["requested_by"] != shown[0]["approved_by"] is not None
