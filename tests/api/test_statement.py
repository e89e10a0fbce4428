"""GET /holders/{account}/payments (and .csv): one account's statement across distributions,
from the read models. Real PostgreSQL, real projections, a real (py-evm) token."""

from __future__ import annotations

import csv
import io
from uuid import UUID

from api import schemas
from app.commands import head
from devtools import payout_story as story
from domain import accounts
from tests.api.conftest import auth
from tests.api.test_api import USD, imported


def two_paid_distributions(client, keys, chain, ledger):
    """The same 40 holders in two distributions: the first left some payments failed, the
    second paid everyone (failures retried)."""
    asset_id = UUID(imported(client, keys, chain)["asset_id"])
    first = story.snapshotted(ledger, asset_id, 40, key="first")
    story.execute(ledger, first, fail_every=9, retry=False)
    second = story.snapshotted(ledger, asset_id, 40, key="second")
    story.execute(ledger, second, fail_every=9, retry=True)
    return asset_id, first, second, head(ledger)


def holder_rows(client, viewer, did, position):
    page = client.get(f"/distributions/{did}/holders?limit=500&wait_for_position={position}",
                      headers=viewer).json()
    return {h["account"]: h for h in page["items"]}


def test_the_statement_lists_each_distributions_amounts_newest_first(client, keys, chain,
                                                                     ledger):
    asset_id, first, second, position = two_paid_distributions(client, keys, chain, ledger)
    viewer = auth(keys["viewer"])
    in_first = holder_rows(client, viewer, first, position)
    in_second = holder_rows(client, viewer, second, position)
    # A holder whose first payment failed, and was paid by the second distribution.
    account = next(a for a, h in in_first.items() if h["status"] == "FAILED")
    r = client.get(f"/holders/{account.lower()}/payments?wait_for_position={position}",
                   headers=viewer)
    assert r.status_code == 200, r.text
    statement = r.json()
    assert statement["account"] == account and statement["next_cursor"] is None
    items = statement["items"]
    # Newest first: the second distribution, then the first.
    assert [i["distribution_id"] for i in items] == [str(second), str(first)]
    for item, row in zip(items, (in_second[account], in_first[account]), strict=True):
        assert {k: item[k] for k in ("balance", "gross", "withheld", "net", "status",
                                     "tx_hash", "failure_reason", "attempts")} == {
            k: row[k] for k in ("balance", "gross", "withheld", "net", "status", "tx_hash",
                                "failure_reason", "attempts")}
        assert item["asset_id"] == str(asset_id) and item["asset_symbol"] == "ACME"
        assert (item["payment_token"], item["payment_decimals"]) == (accounts.canonical(USD), 6)
        assert item["kind"] == "DIVIDEND" and item["record_date"].startswith("2026-06-30")
        assert int(item["gross"]) == int(item["net"]) + int(item["withheld"]) > 0
    assert items[0]["status"] == "PAID" and items[0]["tx_hash"].startswith("0x")
    assert items[1]["status"] == "FAILED" and items[1]["failure_reason"] == "RECIPIENT_BLOCKED"
    assert items[0]["distribution_status"] == "COMPLETED"
    # The skipped holder (zero balance) is listed too, with its reason.
    zero = next(a for a, h in in_first.items() if h["status"] == "SKIPPED")
    skipped = client.get(f"/holders/{zero}/payments", headers=viewer).json()["items"]
    assert [i["skip_reason"] for i in skipped] == ["ZERO_BALANCE", "ZERO_BALANCE"]


def test_the_statement_pages_with_a_keyset_cursor(client, keys, chain, ledger):
    _, first, _, position = two_paid_distributions(client, keys, chain, ledger)
    viewer = auth(keys["viewer"])
    account = next(iter(holder_rows(client, viewer, first, position)))
    whole = client.get(f"/holders/{account}/payments?wait_for_position={position}",
                       headers=viewer).json()["items"]
    page = client.get(f"/holders/{account}/payments?limit=1", headers=viewer).json()
    assert len(page["items"]) == 1 and page["next_cursor"]
    rest = client.get(f"/holders/{account}/payments?limit=1&cursor={page['next_cursor']}",
                      headers=viewer).json()
    assert rest["next_cursor"] is None
    assert page["items"] + rest["items"] == whole and len(whole) == 2
    # A cursor this API did not issue is a 400 problem, never a 500.
    for bad in ("bogus", "WyJ4IiwgInkiXQ==", "WyIyMDI2LTAxLTAxIiwgIngiXQ=="):
        r = client.get(f"/holders/{account}/payments?cursor={bad}", headers=viewer)
        assert r.status_code == 400, (bad, r.text)


def test_the_statement_as_csv(client, keys, chain, ledger):
    _, first, _, position = two_paid_distributions(client, keys, chain, ledger)
    viewer = auth(keys["viewer"])
    account = next(iter(holder_rows(client, viewer, first, position)))
    items = client.get(f"/holders/{account}/payments?wait_for_position={position}",
                       headers=viewer).json()["items"]
    r = client.get(f"/holders/{account}/payments.csv", headers=viewer)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert f'filename="statement-{account}.csv"' in r.headers["content-disposition"]
    lines = list(csv.reader(io.StringIO(r.text)))
    assert tuple(lines[0]) == schemas.StatementEntry.__struct_fields__
    assert len(lines) == 3
    # The same rows as the JSON statement, in the same order (nulls are empty cells).
    for line, item in zip(lines[1:], items, strict=True):
        cells = dict(zip(lines[0], line, strict=True))
        assert cells["distribution_id"] == item["distribution_id"]
        assert (cells["gross"], cells["withheld"], cells["net"], cells["status"]) == (
            item["gross"], item["withheld"], item["net"], item["status"])
        assert cells["tx_hash"] == (item["tx_hash"] or "")
        assert cells["record_date"].startswith("2026-06-30T")


def test_an_unknown_account_has_an_empty_statement(client, keys, chain, ledger):
    two_paid_distributions(client, keys, chain, ledger)
    viewer = auth(keys["viewer"])
    stranger = accounts.checksum(bytes.fromhex("ab" * 20))
    for account in (stranger, "0.0.12345"):
        r = client.get(f"/holders/{account}/payments", headers=viewer)
        assert r.status_code == 200, r.text
        assert r.json()["items"] == [] and r.json()["next_cursor"] is None
        csv_lines = client.get(f"/holders/{account}/payments.csv",
                               headers=viewer).text.splitlines()
        assert len(csv_lines) == 1
    # A Hedera id answers with its long-zero address.
    assert client.get("/holders/0.0.12345/payments", headers=viewer).json()["account"] == \
        accounts.canonical("0.0.12345")
    # Bad accounts: not the grammar (400), a wrong EIP-55 checksum (422); and no key (401).
    wrong_checksum = stranger[:2] + stranger[2:].swapcase()
    assert client.get("/holders/0xZZ/payments", headers=viewer).status_code == 400
    assert client.get(f"/holders/{wrong_checksum}/payments", headers=viewer).status_code == 422
    assert client.get(f"/holders/{wrong_checksum}/payments.csv",
                      headers=viewer).status_code == 422
    assert client.get(f"/holders/{stranger}/payments").status_code == 401
