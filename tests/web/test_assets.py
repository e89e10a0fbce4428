"""The assets screens: the table with search and filter, the import wizard (address → the
token's facts → review → import), and an asset's page with pause/resume by role."""

from __future__ import annotations

import re
from uuid import UUID

from app.commands import head
from devtools import payout_story as story
from domain.planning import GasModel
from tests.api.conftest import auth
from tests.api.test_api import USD, imported
from tests.web.conftest import hx, sign_in


def actions(html):
    return set(re.findall(r'data-action="([a-z-]+)"', html))


def seen(web, keys, asset):
    """Wait until the read models show the import."""
    got = web.get(f"/assets/{asset['asset_id']}?wait_for_position={asset['position']}",
                  headers=auth(keys["viewer"]))
    assert got.status_code == 200, got.text
    return asset["asset_id"]


def test_the_table_shows_an_empty_state_then_the_assets_with_search_and_filter(web, keys, chain):
    sign_in(web, keys["viewer"])
    empty = web.get("/panel/assets")
    assert empty.status_code == 200 and 'data-empty="assets"' in empty.text
    assert "import-start" not in actions(empty.text)  # a viewer imports nothing
    aid = seen(web, keys, imported(web, keys, chain))
    listed = web.get("/panel/assets")
    row = re.search(rf'<tr data-asset="{aid}"[^>]*>', listed.text)
    assert row and 'data-kind="EQUITY"' in row.group(0)
    assert "Acme Equity" in listed.text and "ACME" in listed.text
    assert 'data-holders="0"' in listed.text and 'data-status="ACTIVE"' in listed.text
    assert 'hx-trigger="sse:assets, sse:asset_holders"' in listed.text  # live
    for q in ("acme", "ACM", chain.token[:12].lower()):
        assert f'data-asset="{aid}"' in web.get("/panel/assets", params={"q": q}).text, q
    missing = web.get("/panel/assets/fragments/table", params={"q": "nothing like it"})
    assert 'data-empty="assets-search"' in missing.text and aid not in missing.text
    bonds = web.get("/panel/assets", params={"kind": "BOND"})
    assert 'data-empty="assets-search"' in bonds.text and aid not in bonds.text
    assert aid not in web.get("/panel/assets", params={"q": "%"}).text  # no wildcards


def test_the_wizard_reviews_the_tokens_facts_before_importing_it(web, keys, chain, ledger):
    csrf = sign_in(web, keys["operator"])
    assert "import-start" in actions(web.get("/panel/assets").text)
    form = web.get("/panel/assets/import")
    assert form.status_code == 200 and 'id="import"' in form.text
    before = head(ledger)
    fields = {"token": chain.token.lower(), "payment_token": USD, "payment_decimals": "6",
              "vault": ""}
    review = web.post("/panel/assets/import/review", data=fields, headers=hx(csrf))
    assert review.status_code == 200, review.text
    assert 'id="review"' in review.text and 'data-step="review"' in review.text
    for fact, value in (("name", "Acme Equity"), ("symbol", "ACME"), ("decimals", "2"),
                        ("kind", "Equity")):
        assert re.search(rf'data-fact="{fact}">{value}<', review.text), fact
    assert 'data-fact="holders"' in review.text
    # How the token was read is detected from the contract, not configured.
    assert 'data-fact="token-kind">the reference token (ATS interface), Equity<' in review.text
    assert head(ledger) == before  # reviewing records nothing
    assert 'data-action="import"' in review.text
    done = web.post("/panel/assets/import", data={**fields, "token": chain.token},
                    headers=hx(csrf))
    assert done.status_code == 201, done.text
    target = done.headers["HX-Redirect"]
    assert head(ledger) > before
    aid = target.rsplit("/", 1)[1]
    assert ledger.get_asset(UUID(aid)).symbol == "ACME"
    page = web.get(target)  # at once: the import waited for the read model
    assert page.status_code == 200 and "Acme Equity" in page.text


def test_bad_addresses_and_tokens_are_refused_on_their_field_and_nothing_is_recorded(
        web, keys, chain, ledger):
    csrf = sign_in(web, keys["operator"])
    before = head(ledger)
    good = {"token": chain.token, "payment_token": USD, "payment_decimals": "6", "vault": ""}
    cases = [
        ({"token": "0x12345"}, "token", "neither an EVM address"),
        ({"token": "0x" + "11" * 20}, "token", "no contract"),  # nothing deployed there
        ({"token": chain.token.lower()[:-1] + "G"}, "token", "neither"),
        ({"payment_token": "usd"}, "payment_token", "neither"),
        ({"payment_decimals": "six"}, "payment_decimals", "whole number"),
        ({"payment_decimals": "99"}, "payment_decimals", "36"),
        ({"vault": "0xnope"}, "vault", "neither"),
    ]
    for path in ("/panel/assets/import/review", "/panel/assets/import"):
        for change, field, message in cases:
            refused = web.post(path, data={**good, **change}, headers=hx(csrf))
            assert refused.status_code == 422, (path, change, refused.text)
            marked = re.search(rf'<input id="{field}"[^>]*>', refused.text)
            assert marked and 'aria-invalid="true"' in marked.group(0), (path, field)
            error = re.search(rf'data-error="{field}">([^<]*)<', refused.text)
            assert error and message in error.group(1), (path, change, error)
            assert 'data-step="address"' in refused.text  # back on the first step
    # a checksum typo (mixed case, wrong) is refused too
    typo = chain.token[:2] + chain.token[2:].swapcase() if chain.token[2:] != \
        chain.token[2:].swapcase() else chain.token
    if typo != chain.token and typo.lower() != typo:
        refused = web.post("/panel/assets/import", data={**good, "token": typo},
                           headers=hx(csrf))
        assert refused.status_code == 422 and "checksum" in refused.text
    assert head(ledger) == before


def test_a_viewer_or_approver_cannot_import_and_sees_no_buttons(web, keys, chain, ledger):
    aid = seen(web, keys, imported(web, keys, chain))
    for role in ("viewer", "approver"):
        csrf = sign_in(web, keys[role])
        before = head(ledger)
        assert web.get("/panel/assets/import").status_code == 403
        refused = web.post("/panel/assets/import", data={
            "token": chain.token, "payment_token": USD, "payment_decimals": "6"},
            headers=hx(csrf))
        assert refused.status_code == 403
        page = web.get(f"/panel/assets/{aid}")
        assert page.status_code == 200 and not actions(page.text) & {"pause", "resume"}
        assert web.post(f"/panel/assets/{aid}/pause", data={"reason": "x"},
                        headers=hx(csrf)).status_code == 403
        assert head(ledger) == before


def test_the_asset_page_pauses_and_resumes_and_shows_holders_and_distributions(
        web, keys, chain, ledger):
    asset = imported(web, keys, chain)
    aid = seen(web, keys, asset)
    csrf = sign_in(web, keys["operator"])
    page = web.get(f"/panel/assets/{aid}")
    assert page.status_code == 200
    for empty in ("asset-holders", "asset-distributions", "asset-schedules"):
        assert f'data-empty="{empty}"' in page.text
    assert actions(page.text) >= {"pause"} and "resume" not in actions(page.text)
    paused = web.post(f"/panel/assets/{aid}/pause", data={"reason": "audit"},
                      headers=hx(csrf))
    assert paused.status_code == 200, paused.text
    assert 'data-paused="true"' in paused.text and "audit" in paused.text
    assert "resume" in actions(paused.text)
    assert ledger.get_asset(UUID(aid)).paused
    twice = web.post(f"/panel/assets/{aid}/pause", data={"reason": "x"}, headers=hx(csrf))
    assert twice.status_code == 409 and twice.headers["HX-Retarget"] == "#flash"
    resumed = web.post(f"/panel/assets/{aid}/resume", headers=hx(csrf))
    assert resumed.status_code == 200 and 'data-paused="false"' in resumed.text
    assert not ledger.get_asset(UUID(aid)).paused
    # a snapshot's holders and the distribution that took it
    did = story.snapshotted(ledger, UUID(aid), 60, gas_model=GasModel(
        per_leaf=1_000_000, budget=12_000_000))
    position = head(ledger)
    api = web.get(f"/assets/{aid}/holders?wait_for_position={position}&limit=500",
                  headers=auth(keys["viewer"]))
    total = len(api.json()["items"])
    assert total > 50
    assert web.get(f"/distributions/{did}?wait_for_position={position}",
                   headers=auth(keys["viewer"])).status_code == 200
    page = web.get(f"/panel/assets/{aid}")
    assert f'href="/panel/distributions/{did}"' in page.text
    holders = re.findall(r'<tr data-account="(0x[0-9a-fA-F]{40})"', page.text)
    assert len(holders) == 50 and 'id="holders-next"' in page.text
    cursor = re.search(r'id="holders-next" rel="next" href="([^"]+)"', page.text).group(1)
    rest = web.get(cursor.replace("&amp;", "&"))
    more = re.findall(r'<tr data-account="(0x[0-9a-fA-F]{40})"', rest.text)
    assert len(more) == total - 50 and not set(more) & set(holders)
    listed = web.get("/panel/assets")
    assert f'data-holders="{total}"' in listed.text
    assert web.get("/panel/assets/00000000-0000-0000-0000-000000000000").status_code == 404
