"""The asset page's vault section: an admin asks for a vault operation (bad input marks the
form and records nothing), another person approves it, which queues the admin-side job; a
viewer sees the requests and may do nothing."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from redis import Redis
from rq import Queue

from app import vault_requests
from app.commands import head
from devtools import payout_story as story
from domain.actors import principal
from tests.api.conftest import auth
from tests.web.conftest import hx, sign_in


def test_a_vault_request_is_asked_by_an_admin_and_approved_by_another(web, keys, ledger,
                                                                       redis_url):
    asset = story.import_asset(ledger, token="0x" + "a8" * 20)
    ledger.link_vault(asset, "0x" + "ee" * 20, "importer")
    section = f"/panel/assets/{asset}/fragments/vault"
    # (the read models have the asset and its vault: the panel reads them)
    assert web.get(f"/assets/{asset}?wait_for_position={head(ledger)}",
                   headers=auth(keys["viewer"])).json()["vault_address"]
    # A viewer sees the section without a form, and a forced request is refused
    csrf = sign_in(web, keys["viewer"])
    seen = web.get(section)
    assert seen.status_code == 200 and "Vault" in seen.text
    assert 'data-action="request-vault-op"' not in seen.text
    assert web.post(f"/panel/assets/{asset}/vault/requests",
                    data={"action": "PAUSE", "reason": "x"}, headers=hx(csrf)).status_code == 403
    # The admin: an unknown role marks the form; nothing is recorded
    csrf = sign_in(web, keys["admin"])
    assert 'data-action="request-vault-op"' in web.get(section).text
    bad = web.post(f"/panel/assets/{asset}/vault/requests",
                   data={"action": "GRANT", "role": "KING", "account": "0x" + "5a" * 20,
                         "reason": "x"}, headers=hx(csrf))
    assert bad.status_code == 422 and 'data-error="vault-request"' in bad.text
    assert ledger.vault_ops(asset) is None
    asked = web.post(f"/panel/assets/{asset}/vault/requests",
                     data={"action": "PAUSE", "reason": "incident"}, headers=hx(csrf))
    assert asked.status_code == 200, asked.text
    assert 'data-vault-op="0" data-state="REQUESTED"' in asked.text
    # An approver approves it, which queues the job for the vault's admin-side process
    csrf = sign_in(web, keys["approver"])
    assert 'data-action="approve-vault-op"' in web.get(section).text
    jobs = Queue(vault_requests.QUEUE_NAME, connection=Redis.from_url(redis_url))
    try:
        approved = web.post(f"/panel/assets/{asset}/vault/requests/0/approve", headers=hx(csrf))
        assert approved.status_code == 200, approved.text
        assert 'data-state="APPROVED"' in approved.text
        assert vault_requests.job_id(asset, 0) in jobs.job_ids
    finally:
        jobs.empty()


def test_what_was_done_on_the_vault_outside_the_requests_is_shown_to_anyone(web, keys, ledger):
    """An admin's own call with the admin key (the CLI's `vault pause`) reaches the ledger
    through the vault's log; the panel and the API show it, marked as approved by nobody."""
    from domain.chain_facts import VaultAdministered

    asset = story.import_asset(ledger, token="0x" + "a9" * 20)
    vault = "0x" + "ef" * 20
    ledger.link_vault(asset, vault, "importer")
    tx = "0x" + "ab" * 32
    ledger.apply_chain_facts(chain_id=story.CHAIN_ID, contract=vault, from_block=1, to_block=5,
                             block_hash="0x" + "01" * 32, chain_hash_at_cursor=None,
                             facts=[VaultAdministered(asset, vault, "Paused", tx,
                                                      "by 0x" + "5a" * 20)])
    listed = web.get(f"/assets/{asset}/vault/observed?wait_for_position={head(ledger)}",
                     headers=auth(keys["viewer"]))
    assert listed.status_code == 200, listed.text
    assert [(r["log"], r["tx_hash"], r["detail"]) for r in listed.json()] == [
        ("Paused", tx, "by 0x" + "5a" * 20)]
    sign_in(web, keys["viewer"])
    section = web.get(f"/panel/assets/{asset}/fragments/vault").text
    assert 'id="vault-observed"' in section and 'data-observed="Paused"' in section
    assert "No second person approved these" in section


def test_the_asset_page_shows_each_sweep_account_with_who_set_it_and_when(web, keys, ledger):
    asset = story.import_asset(ledger, token="0x" + "aa" * 20)
    ledger.link_vault(asset, "0x" + "ee" * 20, "importer")
    section = f"/panel/assets/{asset}/fragments/vault"
    # (the read models have the asset and its vault: the panel reads them)
    assert web.get(f"/assets/{asset}?wait_for_position={head(ledger)}",
                   headers=auth(keys["viewer"])).json()["vault_address"]
    sign_in(web, keys["viewer"])
    assert 'data-empty="sweep-accounts"' in web.get(section).text
    # Ann sets the tax authority and the dust account; Bob later changes the dust account
    ledger.set_sweep_accounts(asset, tax_authority="0x" + "7a" * 20, dust="0x" + "d0" * 20,
                              actor="principal:ann/key:a1", reason="the tax office")
    position = ledger.set_sweep_accounts(asset, tax_authority="0x" + "7a" * 20,
                                         dust="0x" + "d1" * 20, actor="principal:bob/key:b1",
                                         reason="new dust account")
    accounts = web.get(f"/assets/{asset}/sweep-accounts?wait_for_position={position}",
                       headers=auth(keys["viewer"])).json()
    # The section lists both, each with the person who set that account, when and why
    shown = web.get(section).text
    rows = re.findall(r'<tr data-sweep-account="(\w+)">(.*?)</tr>', shown, re.S)
    assert [name for name, _ in rows] == ["TAX_AUTHORITY", "DUST"]
    for (name, row), listed in zip(rows, accounts["accounts"], strict=True):
        assert listed["destination"] == name and listed["account"] in row
        assert f"<td data-set-by>{principal(listed['set_by'])}</td>" in row
        assert listed["set_at"][:10] in row and listed["reason"] in row
    assert "ann" in rows[0][1] and "bob" in rows[1][1]


def test_an_upgrade_shows_its_implementations_deployment_then_the_contract(web, keys, ledger):
    asset = story.import_asset(ledger, token="0x" + "ab" * 20)
    ledger.link_vault(asset, "0x" + "ee" * 20, "importer")
    number, _ = vault_requests.request(ledger, asset, action="UPGRADE", role_name=None,
                                       account=None, target="PayoutVaultV2", reason="v2",
                                       actor="principal:ann/key:a", now=datetime.now(UTC))
    ledger.approve_vault_op(asset, number, "principal:bob/key:b")
    sign_in(web, keys["viewer"])
    section, listed = f"/panel/assets/{asset}/fragments/vault", f"/assets/{asset}/vault/requests"
    # The admin-side worker records the deployment it is about to broadcast: shown as such
    deploy = "0x" + "d1" * 32
    position = ledger.record_vault_deployment(asset, number, tx_hash=deploy, nonce=0,
                                              signed_at=datetime.now(UTC),
                                              expected_version=ledger.vault_ops(asset).version)
    [row] = web.get(f"{listed}?wait_for_position={position}",
                    headers=auth(keys["viewer"])).json()
    assert (row["deploy_tx_hash"], row["implementation"]) == (deploy, None)
    assert f'data-deploying="{deploy}"' in web.get(section).text
    # Its receipt names the contract: shown in its place
    contract = "0x" + "1C" * 20
    position = ledger.record_vault_implementation(asset, number, tx_hash=deploy,
                                                  address=contract)
    [row] = web.get(f"{listed}?wait_for_position={position}",
                    headers=auth(keys["viewer"])).json()
    assert row["implementation"].lower() == contract.lower()
    assert f'data-implementation="{row["implementation"]}"' in web.get(section).text
