"""The holder statement: one account's payments across distributions, paged, and its CSV
(the API's own file)."""

from __future__ import annotations

import re
from uuid import UUID

from app.commands import head
from devtools import payout_story as story
from domain import accounts
from domain.planning import GasModel
from tests.api.conftest import auth
from tests.web.conftest import sign_in
from web.controllers import statements

GAS = GasModel(per_leaf=1_000_000, budget=12_000_000)


def paid(web, keys, ledger, n=2):
    """`n` executed distributions of one asset to the same 20 holders (every 9th failed)."""
    aid = story.import_asset(ledger)
    dids = []
    for i in range(n):
        did = story.snapshotted(ledger, aid, 20, key=f"d{i}", gas_model=GAS)
        story.execute(ledger, did, fail_every=9, retry=False)
        dids.append(did)
    position = head(ledger)
    holders = web.get(f"/distributions/{dids[0]}/holders?status=PAID&wait_for_position="
                      f"{position}", headers=auth(keys["viewer"])).json()["items"]
    for did in dids:
        assert web.get(f"/distributions/{did}?wait_for_position={position}",
                       headers=auth(keys["viewer"])).status_code == 200
    return dids, holders[0]


def test_without_an_account_or_payments_the_page_says_so(web, keys):
    sign_in(web, keys["viewer"])
    page = web.get("/panel/statements")
    assert page.status_code == 200 and 'data-empty="no-account"' in page.text
    assert re.search(r'<input id="account"[^>]*>', page.text)
    nobody = web.get("/panel/statements", params={"account": "0.0.1234"})
    assert nobody.status_code == 200 and 'data-empty="statement"' in nobody.text
    assert f'data-account="{accounts.canonical("0.0.1234")}"' in nobody.text
    assert 'id="statement-csv"' not in nobody.text


def test_a_malformed_account_marks_the_field(web, keys):
    sign_in(web, keys["viewer"])
    for bad, words in (("0x12", "neither an EVM address"), ("bob", "neither"),
                       ("0x" + "aB" * 20, "checksum")):
        for path in ("/panel/statements", "/panel/statements/fragments/table"):
            refused = web.get(path, params={"account": bad})
            assert refused.status_code == 422, (bad, refused.text)
            field = re.search(r'<input id="account"[^>]*>', refused.text).group(0)
            assert 'aria-invalid="true"' in field
            error = re.search(r'data-error="account" role="alert">([^<]*)<', refused.text)
            assert error and words in error.group(1), bad
    csv = web.get("/panel/statements.csv", params={"account": "0x12"})
    assert csv.status_code == 422 and "Traceback" not in csv.text


def test_every_payment_with_units_status_and_tx_and_the_apis_csv(web, keys, ledger):
    dids, holder = paid(web, keys, ledger)
    sign_in(web, keys["viewer"])
    account = holder["account"]
    page = web.get("/panel/statements", params={"account": account.lower()})
    assert page.status_code == 200
    assert f'data-account="{account}"' in page.text  # checksummed
    rows = re.findall(r'<tr data-distribution="([0-9a-f-]{36})" data-status="([A-Z_]+)"',
                      page.text)
    assert {UUID(d) for d, _ in rows} == set(dids) and {s for _, s in rows} == {"PAID"}
    for did in dids:
        assert f'href="/panel/distributions/{did}"' in page.text
    gross = re.search(r'data-gross="(\d+)">([^<]+)<', page.text)
    assert gross and gross.group(1) == holder["gross"]
    # 6 decimals, thousands separators, exact
    assert gross.group(2).startswith(f"{int(holder['gross']) // 10**6:,}.")
    assert re.search(r'data-tx="0x[0-9a-f]{64}"', page.text)
    assert 'hx-trigger="sse:distribution_holders, sse:distributions"' in page.text
    link = re.search(r'<a id="statement-csv"[^>]*href="([^"]+)"', page.text).group(1)
    csv = web.get(link.replace("&amp;", "&"))
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert "attachment" in csv.headers["content-disposition"]
    api = web.get(f"/holders/{account}/payments.csv", headers=auth(keys["viewer"]))
    assert csv.content == api.content
    assert len(csv.text.strip().splitlines()) == 3


def test_the_statement_pages(web, keys, ledger, monkeypatch):
    monkeypatch.setattr(statements, "PAGE", 1)
    dids, holder = paid(web, keys, ledger)
    sign_in(web, keys["viewer"])
    first = web.get("/panel/statements", params={"account": holder["account"]})
    shown = re.findall(r'<tr data-distribution="([0-9a-f-]{36})"', first.text)
    assert shown == [str(dids[1])]  # newest first
    more = re.search(r'id="statement-next" rel="next" href="([^"]+)"', first.text).group(1)
    second = web.get(more.replace("&amp;", "&"))
    assert re.findall(r'<tr data-distribution="([0-9a-f-]{36})"', second.text) == [
        str(dids[0])]
    assert 'id="statement-next"' not in second.text


def test_the_reports_are_linked_for_auditors_and_refused_to_viewers(web, keys, ledger):
    dids, _ = paid(web, keys, ledger, n=1)
    sign_in(web, keys["auditor"])
    page = web.get("/panel/statements")
    links = re.findall(r'id="report-[a-z-]+" href="([^"]+)"', page.text)
    assert len(links) == 5
    # Each link downloads its CSV: the issuer's lists the distribution.
    for link in links:
        r = web.get(link)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv"), link
    issuer = web.get("/panel/reports/issuer.csv").text.splitlines()
    assert issuer[0].startswith("distribution_id,asset_id") and str(dids[0]) in issuer[1]
    assert web.get("/panel/reports/nothing.csv").status_code == 404
    # A viewer sees no links and cannot download them.
    sign_in(web, keys["viewer"])
    assert 'id="reports"' not in web.get("/panel/statements").text
    assert web.get("/panel/reports/issuer.csv").status_code in (403, 303)
