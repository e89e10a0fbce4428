"""New distribution at the panel: the form, its preview (recorded nowhere) and creation through
the API's own command, with amounts typed in human units. Real PostgreSQL, projections and a
(py-evm) token, as tests/api/test_preview.py."""

from __future__ import annotations

import re
from uuid import UUID

import msgspec
from jinja2 import Environment, FileSystemLoader

from app.commands import CreateDistribution, head
from app.preview import preview_distribution
from domain.planning import GasModel
from tests.api.conftest import auth
from tests.api.test_api import BODY, imported
from tests.api.test_preview import with_holders
from tests.web.conftest import hx, sign_in
from web.render import TEMPLATES

NEW = "/panel/distributions/new"
TOTALS = ("holders", "eligible", "skipped", "gross", "net", "withheld", "dust", "batches",
          "estimated_gas", "merkle_root")


def form_key(html: str) -> str:
    found = re.search(r'name="idempotency_key" value="([^"]+)"', html)
    assert found, "no idempotency key on the form"
    return found.group(1)


def fields(asset, key, **changes):
    """The form as a browser posts it (payment token: 6 decimals)."""
    return {"asset_id": str(asset), "kind": "DIVIDEND", "rule_kind": "PRO_RATA",
            "rule_value": "1,000", "withholding_percent": "10", "withholding_overrides": "",
            "excluded": "", "minimum_payout": "0", "record_date": "2026-06-30T00:00",
            "execution_kind": "MANUAL", "execution_at": "", "concept": "Q2",
            "idempotency_key": key, **changes}


def ready(web, keys, position):
    """Wait until the assets read model has what the ledger recorded up to `position`."""
    web.get(f"/assets?wait_for_position={position}", headers=auth(keys["viewer"]))


def operator_form(web, keys, asset_id=None):
    csrf = sign_in(web, keys["operator"])
    page = web.get(NEW + (f"?asset_id={asset_id}" if asset_id else ""))
    assert page.status_code == 200, page.text
    return csrf, page.text


def error_for(html: str, name: str) -> str:
    found = re.search(rf'data-error-for="{name}">([^<]*)<', html)
    assert found, f"the field {name} is not marked"
    return found.group(1)


def totals(html: str) -> dict[str, str]:
    return dict(re.findall(r'data-total="(\w+)" data-value="([^"]*)"', html))


def test_the_form_renders_for_an_operator_and_is_forbidden_to_a_viewer(web, keys, chain,
                                                                         ledger):
    # No asset yet: the page says to import one.
    csrf, html = operator_form(web, keys)
    assert 'data-empty="assets"' in html and 'id="new-distribution"' not in html
    asset = imported(web, keys, chain)
    ready(web, keys, asset["position"])
    csrf, html = operator_form(web, keys, asset["asset_id"])
    assert '<form id="new-distribution"' in html
    assert f'<option value="{asset["asset_id"]}" selected' in html
    UUID(form_key(html))  # a fresh key per render
    assert form_key(web.get(NEW).text) != form_key(html)
    for name in ("asset_id", "kind", "rule_kind", "rule_value", "withholding_percent",
                 "withholding_overrides", "excluded", "excluded_file", "minimum_payout",
                 "record_date", "execution_kind", "execution_at", "concept"):
        assert f'name="{name}"' in html, name
    assert 'data-action="preview"' in html and 'data-action="create"' in html
    assert 'data-empty="preview"' in html
    # A viewer may not create: no form, and neither route answers.
    csrf = sign_in(web, keys["viewer"])
    assert web.get(NEW).status_code == 403
    refused = web.post(NEW + "/preview", data=fields(asset["asset_id"], "k"), headers=hx(csrf))
    assert refused.status_code == 403
    assert web.post(NEW, data=fields(asset["asset_id"], "k"), headers=hx(csrf)).status_code == 403


def test_the_new_distribution_link_is_for_operators_only():
    # The partial the distributions list and an asset's page include.
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True)
    link = env.get_template("new_distribution_link.html")
    for role in ("operator", "admin"):
        html = link.render(role=role, asset_id="a1")
        assert 'href="/panel/distributions/new?asset_id=a1"' in html
        assert 'data-action="new-distribution"' in html
    assert 'href="/panel/distributions/new"' in link.render(role="operator")
    for role in ("viewer", "approver"):
        assert "<a" not in link.render(role=role, asset_id="a1")


def test_the_preview_shows_app_previews_totals_and_records_nothing(web, keys, chain, ledger):
    asset_id, holders = with_holders(web, keys, chain, ledger)
    csrf, html = operator_form(web, keys, asset_id)
    form = fields(asset_id, form_key(html), excluded=holders[0][0], minimum_payout="15",
                  withholding_overrides=f"{holders[1][0]}, 30.5")
    before = head(ledger)
    answer = web.post(NEW + "/preview", data=form, headers=hx(csrf))
    assert answer.status_code == 200, answer.text
    assert head(ledger) == before  # nothing recorded
    assert 'class="preview" data-preview="true"' in answer.text
    assert "Nothing is recorded" in answer.text
    # The same command the API would build, previewed by app.preview from the same holders.
    body = msgspec.convert({
        "asset_id": str(asset_id), "kind": "DIVIDEND",
        "rule": {"kind": "PRO_RATA", "value": "1000000000"},
        "record_date": "2026-06-30T00:00:00Z", "withholding_bps": 1000,
        "withholding_overrides": [{"account": holders[1][0], "bps": 3050}],
        "excluded": [holders[0][0]], "minimum_payout": "15000000", "concept": "Q2"},
        CreateDistribution)
    expected = preview_distribution(ledger, lambda _: [holders], body, gas_model=GasModel())
    assert totals(answer.text) == {k: str(getattr(expected, k)) for k in TOTALS}
    assert expected.skipped_by_reason["EXCLUDED"] == 1 and expected.skipped > 1
    assert f'data-account="{expected.skipped_holders[0].account}"' in answer.text
    assert '<tr data-reason="BELOW_MINIMUM">' in answer.text
    # Shown with units and thousands separators: 1,000 USD in, 1,000.00 gross (6 decimals).
    assert re.search(r'data-total="gross" data-value="1000000000">1,000.00 <abbr', answer.text)


def test_create_converts_human_units_exactly_and_redirects(web, keys, chain, ledger):
    asset_id, holders = with_holders(web, keys, chain, ledger, n=5)
    csrf, _ = operator_form(web, keys, asset_id)
    # The actor the API records for the operator's key: the panel records the same.
    api = web.post("/distributions", headers=auth(keys["operator"], **{"Idempotency-Key": "a"}),
                   json={**BODY, "asset_id": str(asset_id)}).json()
    actor = ledger.get_distribution(UUID(api["distribution_id"])).created_by
    made = {}
    for typed in ("1,234.56", "1234.56"):
        key = form_key(web.get(NEW).text)
        answer = web.post(NEW, headers=hx(csrf), data=fields(
            asset_id, key, rule_value=typed, minimum_payout="0.000001",
            withholding_percent="15.25", excluded=f"\n{holders[1][0]}\n",
            withholding_overrides=f"{holders[2][0]}, 0", execution_kind="ON_DEPOSIT"))
        assert answer.status_code == 200, answer.text
        location = answer.headers["HX-Redirect"]
        found = re.fullmatch(r"/panel/distributions/([0-9a-f-]{36})", location)
        assert found, location
        assert web.get(location).status_code == 200  # its page is there already
        made[typed] = UUID(found.group(1))
    for did in made.values():
        distribution = ledger.get_distribution(did)
        terms = distribution.terms
        assert terms.rule.value == 1_234_560_000
        assert terms.minimum_payout == 1
        assert terms.withholding.default_bps == 1525
        assert terms.withholding.overrides == ((holders[2][0], 0),)
        assert terms.excluded == (holders[1][0],)
        assert (terms.execution.kind, terms.execution.trigger) == ("AUTOMATIC", "ON_DEPOSIT")
        assert distribution.created_by == actor
    assert made["1,234.56"] != made["1234.56"]  # two forms, two distributions


def test_a_double_submit_with_one_form_key_creates_one_distribution(web, keys, chain, ledger):
    asset_id, _ = with_holders(web, keys, chain, ledger, n=5)
    csrf, html = operator_form(web, keys, asset_id)
    form = fields(asset_id, form_key(html), execution_kind="SCHEDULED",
                  execution_at="2099-01-01T10:00")
    first = web.post(NEW, data=form, headers=hx(csrf))
    after_first = head(ledger)
    second = web.post(NEW, data=form, headers=hx(csrf))
    assert first.headers["HX-Redirect"] == second.headers["HX-Redirect"]
    assert head(ledger) == after_first  # the second click recorded nothing
    did = UUID(first.headers["HX-Redirect"].split("/")[-1])
    assert ledger.get_distribution(did).terms.execution.at.year == 2099
    # The same key with other terms is a conflict, shown in the flash area.
    changed = web.post(NEW, data={**form, "rule_value": "999"}, headers=hx(csrf))
    assert changed.status_code == 409
    assert changed.headers["HX-Retarget"] == "#flash"
    assert head(ledger) == after_first


def test_bad_input_marks_its_field_and_records_nothing(web, keys, chain, ledger):
    asset_id, holders = with_holders(web, keys, chain, ledger, n=5)
    csrf, html = operator_form(web, keys, asset_id)
    key = form_key(html)
    before = head(ledger)
    cases = {
        "rule_value": {"rule_value": "1.1234567"},  # 7 decimals, the token has 6
        "execution_at": {"execution_kind": "SCHEDULED", "execution_at": "2020-01-01T00:00"},
        "excluded": {"excluded": f"{holders[1][0]}\n0x1234"},
        "withholding_overrides": {"withholding_overrides": f"{holders[1][0]} 101"},
        "withholding_percent": {"withholding_percent": "100.01"},
        "minimum_payout": {"minimum_payout": "-1"},
        "record_date": {"record_date": "yesterday"},
        "rule_kind": {"kind": "CASH_OUT"},  # the domain: a CASH_OUT pays PER_UNIT
        "asset_id": {"asset_id": ""},
        "rail": {"rail": "HTS"},  # the domain: HTS pays a Hedera asset's HTS token only
    }
    for name, change in cases.items():
        for route in (NEW + "/preview", NEW):
            answer = web.post(route, data=fields(asset_id, key, **change), headers=hx(csrf))
            assert answer.status_code == 422, (name, route, answer.text)
            error_for(answer.text, name)
            assert re.search(rf'name="{name}"[^>]*aria-invalid="true"', answer.text) or \
                name == "rule_value", name
            assert "Traceback" not in answer.text
            # The form keeps what was typed and its key; the stale preview is cleared.
            assert form_key(answer.text) == key
            assert 'id="preview" aria-live="polite" hx-swap-oob="true"' in answer.text
    assert "at most 6 decimal places" in error_for(
        web.post(NEW, data=fields(asset_id, key, rule_value="1.1234567"),
                 headers=hx(csrf)).text, "rule_value")
    assert "passed" in error_for(web.post(NEW, data=fields(
        asset_id, key, **cases["execution_at"]), headers=hx(csrf)).text, "execution_at")
    assert "line 2" in error_for(web.post(NEW, data=fields(
        asset_id, key, excluded=f"{holders[1][0]}\n0x1234"), headers=hx(csrf)).text,
        "excluded")
    assert head(ledger) == before


def test_exclusions_come_from_an_uploaded_csv(web, keys, chain, ledger):
    asset_id, holders = with_holders(web, keys, chain, ledger, n=8)
    csrf, html = operator_form(web, keys, asset_id)
    key = form_key(html)
    csv_text = f"account,note\n{holders[1][0]},left\n\n{holders[2][0]},gone\n"
    upload = {"excluded_file": ("excluded.csv", csv_text.encode(), "text/csv")}
    before = head(ledger)
    preview = web.post(NEW + "/preview", data=fields(asset_id, key, excluded=holders[3][0]),
                       files=upload, headers=hx(csrf))
    assert preview.status_code == 200, preview.text
    assert re.search(r'<tr data-reason="EXCLUDED"><td>[^<]*</td><td class="num">3<',
                     preview.text)
    assert head(ledger) == before
    # The form now lists every excluded account (the file's too), so create sends them all.
    for account, _ in holders[1:4]:
        assert account in preview.text
    made = web.post(NEW, data=fields(asset_id, key, excluded=holders[3][0]), files=upload,
                    headers=hx(csrf))
    did = UUID(made.headers["HX-Redirect"].split("/")[-1])
    assert set(ledger.get_distribution(did).terms.excluded) == {a for a, _ in holders[1:4]}
    # A malformed line in the file marks the file field with its line number.
    bad = {"excluded_file": ("bad.csv", f"{holders[1][0]}\nnobody\n".encode(), "text/csv")}
    refused = web.post(NEW, data=fields(asset_id, form_key(web.get(NEW).text)), files=bad,
                       headers=hx(csrf))
    assert refused.status_code == 422
    assert "bad.csv, line 2" in error_for(refused.text, "excluded_file")


def test_a_coupon_by_rate_is_the_bonds_coupon_number(web, keys, ledger):
    from tests.api.test_bonds import TERMS, bond

    # A bond with its coupon terms recorded (quarterly, 5 %, ACT/360 from 1 Jan 2027).
    asset_id = bond(ledger)
    web.put(f"/assets/{asset_id}/bond-terms", json=TERMS, headers=auth(keys["operator"]))
    ready(web, keys, head(ledger))
    csrf, html = operator_form(web, keys, asset_id)
    assert 'value="RATE"' in html
    # Coupon 2 by its number: the ledger records its rate and period from the terms.
    answer = web.post(NEW, headers=hx(csrf), data=fields(
        asset_id, form_key(html), kind="COUPON", rule_kind="RATE", rule_value="2",
        withholding_percent="0", record_date="2027-07-01T00:00"))
    assert answer.status_code == 200, answer.text
    did = UUID(answer.headers["HX-Redirect"].split("/")[-1])
    accrual = ledger.get_distribution(did).terms.rule.accrual
    assert accrual is not None and str(accrual.end) == "2027-07-01"
    # Not a number, or a coupon the bond does not pay: the field is marked, nothing recorded.
    before = head(ledger)
    for typed in ("two", "9"):
        refused = web.post(NEW, headers=hx(csrf), data=fields(
            asset_id, form_key(html), kind="COUPON", rule_kind="RATE", rule_value=typed,
            withholding_percent="0", record_date="2027-07-01T00:00"))
        assert refused.status_code == 422, (typed, refused.text)
        error_for(refused.text, "rule_value")
    assert head(ledger) == before
