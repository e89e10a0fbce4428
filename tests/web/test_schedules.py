"""The schedules screens: the list, the form that defines one (amounts in human units), a
schedule's page with its occurrences, and approve / pause / resume / cancel by role."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from uuid import UUID

import pytest

from app.commands import head
from devtools import payout_story as story
from tests.api.conftest import auth
from tests.web.conftest import hx, sign_in
from web.forms import field_errors, to_units

FORM = {"kind": "DIVIDEND", "rule_kind": "PRO_RATA", "amount": "1,250.5", "cadence": "HOURLY",
        "start": "2026-07-01T00:00", "count": "24", "end": "", "missed_policy": "RUN_LATEST",
        "misfire_grace_seconds": "60", "withholding": "5", "minimum_payout": "",
        "excluded": "", "concept": "hourly", "key": "form-1"}


def actions(html):
    return set(re.findall(r'data-action="([a-z-]+)"', html))


def asset(web, keys, ledger):
    """An asset paid in a 6-decimal token, visible in the read models."""
    aid = story.import_asset(ledger)
    assert web.get(f"/assets/{aid}?wait_for_position={head(ledger)}",
                   headers=auth(keys["viewer"])).status_code == 200
    return str(aid)


def visible(web, keys, ledger, sid):
    got = web.get(f"/schedules/{sid}?wait_for_position={head(ledger)}",
                  headers=auth(keys["viewer"]))
    assert got.status_code == 200, got.text
    return got.json()


def define(web, csrf, aid, **changes):
    return web.post("/panel/schedules/new", data={**FORM, "asset_id": aid, **changes},
                    headers=hx(csrf))


def test_to_units_is_exact_and_refuses_what_would_lose_a_digit():
    assert to_units("1,250.5", 6) == 1_250_500_000
    assert to_units("0.000001", 6) == 1
    assert to_units("12", 0) == 12
    assert to_units("1.50", 1) == 15  # trailing zeros lose nothing
    assert to_units(".5", 2) == 50
    assert to_units("123456789012345678901234567890.123456789012345678", 18) == \
        123456789012345678901234567890123456789012345678
    for bad, words in (("1.0000001", "at most 6 decimal places"), ("", "enter an amount"),
                       ("-1", "negative"), ("1e6", "not an amount"), ("1,00", "not an amount"),
                       ("abc", "not an amount"), ("1.2.3", "not an amount"),
                       ("9" * 80, "too large")):
        with pytest.raises(ValueError, match=words):
            to_units(bad, 6)
    with pytest.raises(ValueError, match="whole number"):
        to_units("1.5", 0)


def test_field_errors_put_each_refusal_on_its_field():
    import msgspec

    from api import schemas
    from domain.errors import InvalidTerms

    with pytest.raises(msgspec.ValidationError) as bad:
        msgspec.convert({"asset_id": "x", "kind": "DIVIDEND", "cadence": {}},
                        schemas.ScheduleCreate)
    assert set(field_errors(bad.value, {"$.asset_id": "asset_id"})) == {"asset_id"}
    assert field_errors(InvalidTerms("the end is before the start"),
                        hints=(("end", "end"),)) == {"end": "the end is before the start"}
    assert field_errors(InvalidTerms("odd")) == {"form": "odd"}


def test_the_list_and_a_schedule_render_empty_then_with_data(web, keys, ledger):
    csrf = sign_in(web, keys["operator"])
    empty = web.get("/panel/schedules")
    assert empty.status_code == 200 and 'data-empty="schedules"' in empty.text
    assert "new-schedule" in actions(empty.text)
    aid = asset(web, keys, ledger)
    form = web.get(f"/panel/schedules/new?asset_id={aid}")
    assert form.status_code == 200 and 'id="schedule-form"' in form.text
    assert re.search(rf'<option value="{aid}"[^>]*selected', form.text)
    before = head(ledger)
    made = define(web, csrf, aid)
    assert made.status_code == 201, made.text
    sid = made.headers["HX-Redirect"].rsplit("/", 1)[1]
    assert head(ledger) > before
    # the page it goes to shows it at once (the read model was waited for)
    assert web.get(made.headers["HX-Redirect"]).status_code == 200
    # the amount went in as smallest units of the 6-decimal payment token, exactly
    schedule = ledger.get_schedule(UUID(sid))
    assert schedule.terms.rule.value == 1_250_500_000
    assert schedule.terms.withholding.default_bps == 500
    assert schedule.terms.execution.count == 24
    assert schedule.terms.execution.start == datetime(2026, 7, 1, tzinfo=UTC)
    # a double submit of the same form (same key) is the same schedule
    again = define(web, csrf, aid)
    assert again.status_code == 201 and again.headers["HX-Redirect"].endswith(sid)
    visible(web, keys, ledger, sid)
    listed = web.get("/panel/schedules")
    row = re.search(rf'<tr data-schedule="{sid}" data-status="PENDING_APPROVAL"', listed.text)
    assert row and "ACME" in listed.text and 'hx-trigger="sse:schedules' in listed.text
    assert "2026-07-01 00:00:00 UTC" in listed.text  # next occurrence
    page = web.get(f"/panel/schedules/{sid}")
    assert page.status_code == 200 and 'data-empty="occurrences"' in page.text
    assert 'data-amount="1250500000"' in page.text and "1,250.50" in page.text
    assert web.get(f"/panel/schedules/{'0' * 8}-0000-0000-0000-{'0' * 12}").status_code == 404


def test_bad_input_is_refused_on_its_field_and_nothing_is_recorded(web, keys, ledger):
    csrf = sign_in(web, keys["operator"])
    aid = asset(web, keys, ledger)
    before = head(ledger)
    cases = [
        ({"amount": "1.0000001"}, "amount", "at most 6 decimal places"),
        ({"amount": "lots"}, "amount", "not an amount"),
        ({"rule_kind": "PERCENTAGE", "amount": "2.555"}, "amount", "at most 2"),
        ({"asset_id": ""}, "asset_id", "choose an asset"),
        ({"start": "tomorrow"}, "start", "not a date"),
        ({"start": ""}, "start", "first occurrence"),
        ({"count": "", "end": ""}, "count", "or an end"),
        ({"count": "0"}, "count", ""),
        ({"count": "3", "end": "2026-08-01T00:00"}, "count", "not both"),
        ({"count": "", "end": "2026-06-01T00:00"}, "end", ""),
        ({"withholding": "100.5"}, "withholding", ""),
        ({"misfire_grace_seconds": "999999"}, "misfire_grace_seconds", ""),
        ({"excluded": "0x" + "ab" * 20 + "\nnot-an-account"}, "excluded", "neither"),
        ({"concept": "x" * 501}, "concept", ""),
    ]
    for change, field, words in cases:
        refused = define(web, csrf, aid, key=f"bad-{field}", **change)
        assert refused.status_code == 422, (change, refused.text)
        marked = re.search(rf'<(?:input|select|textarea) id="{field}"[^>]*>', refused.text)
        assert marked and 'aria-invalid="true"' in marked.group(0), (change, field)
        error = re.search(rf'data-error="{field}">([^<]*)<', refused.text)
        assert error and words in error.group(1), (change, error and error.group(1))
        # what was typed is kept
        assert 'id="schedule-form"' in refused.text
    assert head(ledger) == before


def test_the_maker_waits_another_approves_and_operators_pause_resume_and_cancel(
        web, keys, ledger):
    aid = asset(web, keys, ledger)
    csrf = sign_in(web, keys["admin"])  # an admin may define and approve: not their own
    sid = define(web, csrf, aid).headers["HX-Redirect"].rsplit("/", 1)[1]
    visible(web, keys, ledger, sid)
    mine = web.get(f"/panel/schedules/{sid}")
    assert 'data-waiting="approver"' in mine.text and "approve" not in actions(mine.text)
    before = head(ledger)
    refused = web.post(f"/panel/schedules/{sid}/approve", headers=hx(csrf))
    assert refused.status_code == 403 and head(ledger) == before
    # a viewer sees no button and may not act
    csrf = sign_in(web, keys["viewer"])
    shown = web.get(f"/panel/schedules/{sid}")
    assert not actions(shown.text) and "new-schedule" not in actions(
        web.get("/panel/schedules").text)
    for action in ("approve", "pause", "resume", "cancel"):
        assert web.post(f"/panel/schedules/{sid}/{action}", data={"reason": "x"},
                        headers=hx(csrf)).status_code == 403
    assert web.get("/panel/schedules/new").status_code == 403
    assert head(ledger) == before
    # an operator may not approve
    csrf = sign_in(web, keys["operator"])
    assert "approve" not in actions(web.get(f"/panel/schedules/{sid}").text)
    assert web.post(f"/panel/schedules/{sid}/approve", headers=hx(csrf)).status_code == 403
    # the approver approves
    csrf = sign_in(web, keys["approver"])
    assert {"approve", "cancel"} <= actions(web.get(f"/panel/schedules/{sid}").text)
    approved = web.post(f"/panel/schedules/{sid}/approve", headers=hx(csrf))
    assert approved.status_code == 200 and 'data-status="ACTIVE"' in approved.text
    assert ledger.get_schedule(UUID(sid)).status == "ACTIVE"
    # the operator pauses and resumes
    csrf = sign_in(web, keys["operator"])
    assert "pause" in actions(web.get(f"/panel/schedules/{sid}").text)
    paused = web.post(f"/panel/schedules/{sid}/pause", data={"reason": "audit"},
                      headers=hx(csrf))
    assert paused.status_code == 200 and 'data-status="PAUSED"' in paused.text
    assert "audit" in paused.text and "resume" in actions(paused.text)
    resumed = web.post(f"/panel/schedules/{sid}/resume", headers=hx(csrf))
    assert resumed.status_code == 200 and 'data-status="ACTIVE"' in resumed.text
    again = web.post(f"/panel/schedules/{sid}/resume", headers=hx(csrf))
    assert again.status_code == 409 and again.headers["HX-Retarget"] == "#flash"
    # the approver cancels, with a reason
    csrf = sign_in(web, keys["approver"])
    before = head(ledger)
    no_reason = web.post(f"/panel/schedules/{sid}/cancel", data={"reason": " "},
                         headers=hx(csrf))
    assert no_reason.status_code == 422 and head(ledger) == before
    cancelled = web.post(f"/panel/schedules/{sid}/cancel", data={"reason": "wound up"},
                         headers=hx(csrf))
    assert cancelled.status_code == 200 and 'data-status="CANCELLED"' in cancelled.text
    assert not actions(cancelled.text)


def test_a_schedules_page_lists_the_occurrences_it_spawned(web, keys, ledger):
    aid = asset(web, keys, ledger)
    csrf = sign_in(web, keys["operator"])
    sid = define(web, csrf, aid).headers["HX-Redirect"].rsplit("/", 1)[1]
    ledger.approve_schedule(UUID(sid), "checker")
    ledger.fire_schedule(UUID(sid), datetime(2026, 7, 1, 2, 30, tzinfo=UTC))
    got = visible(web, keys, ledger, sid)
    spawned = got["occurrences"][0]["distribution_id"]
    page = web.get(f"/panel/schedules/{sid}")
    assert re.search(r'<tr data-occurrence="2">', page.text)
    assert f'href="/panel/distributions/{spawned}"' in page.text
    assert "2026-07-01 02:00:00 UTC" in page.text  # occurrence 2's due time
    assert "2026-07-01 03:00:00 UTC" in page.text  # the next one
    assert "Missed" in page.text
