"""Hostile input (issue #13): each request below was once accepted. Each must now be a 4xx
problem, and leave the ledger as it was: nothing is recorded for a refused command.

The property tests check the grammar itself, against the command types the API's bodies
subclass and the CLI converts into: no string outside it is accepted, whatever the bytes.
"""

from __future__ import annotations

import re

import msgspec
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from app.commands import RuleIn, WithholdingOverride
from domain.accounts import ACCOUNT_PATTERN
from domain.values import AMOUNT_PATTERN, MAX_AMOUNT
from tests.api.conftest import auth
from tests.api.test_api import BODY, imported

PROBLEM = "application/problem+json"
ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


def refused(response, *statuses: int) -> None:
    assert response.status_code in statuses, (response.status_code, response.text)
    assert response.headers["content-type"].startswith(PROBLEM), response.headers


def create(client, keys, body, key="hostile"):
    return client.post("/distributions", json=body,
                       headers=auth(keys["operator"], **{"Idempotency-Key": key}))


@pytest.fixture
def asset_id(client, keys, chain):
    return imported(client, keys, chain)["asset_id"]


def test_an_amount_above_two_to_the_256_is_refused(client, keys, asset_id, ledger):
    # 78 digits, above 2**256 - 1: it fits the old pattern, never a uint256.
    too_big = str(MAX_AMOUNT + 1)
    assert len(too_big) == 78
    head = ledger.recorder.max_notification_id()
    for body in ({**BODY, "asset_id": asset_id, "rule": {"kind": "PRO_RATA", "value": too_big}},
                 {**BODY, "asset_id": asset_id, "minimum_payout": too_big}):
        refused(create(client, keys, body), 400, 422)
    # The largest amount is accepted, and the document says where the bound is.
    largest = create(client, keys, {**BODY, "asset_id": asset_id,
                                    "rule": {"kind": "PRO_RATA", "value": str(MAX_AMOUNT)}},
                     key="largest")
    assert largest.status_code == 201, largest.text
    assert ledger.recorder.max_notification_id() > head


def test_an_amount_with_a_trailing_newline_is_refused(client, keys, asset_id, ledger):
    head = ledger.recorder.max_notification_id()
    refused(create(client, keys, {**BODY, "asset_id": asset_id,
                                  "rule": {"kind": "PRO_RATA", "value": "100\n"}}), 400)
    assert ledger.recorder.max_notification_id() == head


def test_a_hedera_id_in_arabic_indic_digits_is_refused(client, keys, asset_id, ledger):
    head = ledger.recorder.max_notification_id()
    hostile = "0.0.1234".translate(ARABIC_INDIC)
    refused(create(client, keys, {**BODY, "asset_id": asset_id, "excluded": [hostile]}), 400)
    refused(create(client, keys, {**BODY, "asset_id": asset_id, "withholding_overrides": [
        {"account": hostile, "bps": 100}]}), 400)
    # Nor as a path parameter: the statement of an account.
    refused(client.get(f"/holders/{hostile}/payments", headers=auth(keys["viewer"])), 400)
    assert ledger.recorder.max_notification_id() == head


@pytest.mark.parametrize("path", ["/distributions", "/schedules"])
def test_options_allows_every_method_of_the_path(client, keys, ledger, path):
    head = ledger.recorder.max_notification_id()
    answer = client.options(path, headers=auth(keys["viewer"]))
    assert answer.status_code == 204
    assert set(answer.headers["allow"].split(", ")) == {"GET", "OPTIONS", "POST"}
    assert ledger.recorder.max_notification_id() == head


@pytest.mark.parametrize("value", ["0.0", "1700000000",
                                   "2026-06-30T00:00:00", "2026-06-30T00:00:00Z\n"])
def test_a_date_time_filter_takes_only_a_date_time(client, keys, ledger, value):
    head = ledger.recorder.max_notification_id()
    refused(client.get("/distributions", params={"created_to": value},
                       headers=auth(keys["viewer"])), 400)
    assert ledger.recorder.max_notification_id() == head
    # A date-time with its offset is a filter.
    ok = client.get("/distributions", params={"created_to": "2026-06-30T00:00:00+02:00"},
                    headers=auth(keys["viewer"]))
    assert ok.status_code == 200, ok.text


@pytest.mark.parametrize(("path", "name"), [("/distributions", "created_to"),
                                           ("/reports/issuer", "from")])
def test_a_day_the_calendar_lacks_is_a_422_naming_the_parameter(client, keys, ledger, path,
                                                                name):
    # 02-31 and 29 February of a common year have the date-time's form, not its meaning:
    # refused as invalid input (documented on the route), the parameter named.
    head = ledger.recorder.max_notification_id()
    for value in ("2026-02-31T00:00:00Z", "2026-02-29T12:00:00+02:00"):
        answer = client.get(path, params={name: value}, headers=auth(keys["admin"]))
        refused(answer, 422)
        assert answer.json()["field"] == name and value in answer.json()["detail"]
        assert "422" in client.get("/schema/openapi.json").json()["paths"][path]["get"][
            "responses"]
    # 29 February of a leap year is a day like any other.
    leap = client.get(path, params={name: "2028-02-29T00:00:00Z"}, headers=auth(keys["admin"]))
    assert leap.status_code == 200, leap.text
    assert ledger.recorder.max_notification_id() == head


def test_a_body_is_taken_with_the_types_its_json_says(client, keys, asset_id, ledger):
    # Litestar converts leniently: 0 was taken for false and "1000" for 1000.
    head = ledger.recorder.max_notification_id()
    refused(client.post(f"/assets/{asset_id}/sync", json={"enabled": 0},
                        headers=auth(keys["operator"])), 400)
    refused(create(client, keys, {**BODY, "asset_id": asset_id, "withholding_bps": "1000"}), 400)
    assert ledger.recorder.max_notification_id() == head
    # JSON Schema's integer includes 1000.0, and so does the API.
    taken = create(client, keys, {**BODY, "asset_id": asset_id, "withholding_bps": 1000.0})
    assert taken.status_code == 201, taken.text


# --- the grammar, as a property: what the command types accept is what the pattern says.

def _accepts(command, **fields) -> bool:
    try:
        msgspec.convert(fields, command)
    except msgspec.ValidationError:
        return False
    return True


def _ascii_fullmatch(pattern: str, text: str) -> bool:
    """The grammar, read independently of the pattern's Python quirks: ASCII only, the
    whole string (`re.ASCII` and `fullmatch`, with the `$(?!\\n)` tail dropped)."""
    assert pattern.endswith("$(?!\\n)")
    return re.fullmatch(pattern[:-len("$(?!\\n)")], text, re.ASCII) is not None


def _amount_ok(text: str) -> bool:
    return text.isascii() and text.isdigit() and int(text) <= MAX_AMOUNT


NEAR_AMOUNTS = st.one_of(
    st.integers(0, 2**257).map(str),
    st.integers(0, 2**257).map(lambda n: str(n) + "\n"),
    st.integers(0, 2**257).map(lambda n: str(n).translate(ARABIC_INDIC)),
    st.text(alphabet="0123456789 \n\t+-._٠١٢٣٤٥٦٧٨٩\u00b2\uff10", max_size=80),
    st.text(max_size=80))


@given(NEAR_AMOUNTS)
@settings(max_examples=400, deadline=None)
@example(str(MAX_AMOUNT))
@example(str(MAX_AMOUNT + 1))
@example("100\n")
@example("0" * 78)
@example("0" * 79)
def test_an_amount_is_accepted_exactly_when_it_is_ascii_digits_up_to_the_bound(text):
    accepted = _accepts(RuleIn, kind="PRO_RATA", value=text)
    assert accepted == (_amount_ok(text) and len(text) <= 78)  # leading zeros: 78 at most
    assert accepted == _ascii_fullmatch(AMOUNT_PATTERN, text)


def _account_ok(text: str) -> bool:
    if re.fullmatch(r"0x[0-9a-fA-F]{40}", text, re.ASCII):
        return True
    parts = text.split(".")
    if len(parts) != 3 or not all(p.isascii() and p.isdigit() for p in parts):
        return False
    shard, realm, num = map(int, parts)
    return shard < 2**32 and realm < 2**64 and num < 2**64


NEAR_ACCOUNTS = st.one_of(
    st.tuples(st.integers(0, 2**33), st.integers(0, 2**65), st.integers(0, 2**65)).map(
        lambda t: ".".join(map(str, t))),
    st.tuples(st.integers(0, 2**33), st.integers(0, 2**65), st.integers(0, 2**65),
              st.sampled_from(["\n", " ", ".", "\u0660", "x"])).map(
        lambda t: ".".join(map(str, t[:3])) + t[3]),
    st.integers(0, 2**64).map(lambda n: f"0.0.{n}".translate(ARABIC_INDIC)),
    st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex()),
    st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex() + "\n"),
    st.text(alphabet="0123456789.xabcdefABCDEF\n \u0660\u0661", max_size=50),
    st.text(max_size=50))


@given(NEAR_ACCOUNTS)
@settings(max_examples=400, deadline=None)
@example("0.0.1234".translate(ARABIC_INDIC))
@example("0.0.1234\n")
@example(f"{2**32 - 1}.{2**64 - 1}.{2**64 - 1}")
@example(f"{2**32}.0.1")
def test_an_account_is_accepted_exactly_when_it_is_in_the_grammar(text):
    accepted = _accepts(WithholdingOverride, account=text, bps=0)
    assert accepted == _account_ok(text)
    assert accepted == _ascii_fullmatch(ACCOUNT_PATTERN, text)
