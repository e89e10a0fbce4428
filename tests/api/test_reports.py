"""The reports under /reports: tax per holder and year, withheld tax for the authority,
the issuer's period report and the unclaimed holders, as JSON and CSV, from the read models.
Real PostgreSQL, real projections, the ledger's own write path for every fact."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from app.commands import head
from devtools import payout_story as story
from domain import accounts
from domain.chain_facts import LeafClaimed
from domain.entitlements import Snapshot
from domain.planning import GasModel
from domain.terms import Withholding
from projections import reports_queries as q
from projections.store import APPLICATION
from tests.api.conftest import auth
from tests.api.test_api import imported

HOLDERS = story.holders(30)
OVERRIDE = accounts.canonical(HOLDERS[5][0])  # taxed at 25% instead of the default 10%


def _settled_story(client, keys, chain, ledger, projector):
    """One distribution (record date 2026-06-30) whose leaf 8 and 17 failed, leaf 17 then
    claimed; one holder has a withholding override. Returns its id once every read model
    has caught up."""
    asset_id = UUID(imported(client, keys, chain)["asset_id"])
    terms = replace(story.sample_terms(), withholding=Withholding(1_000, ((OVERRIDE, 2_500),)))
    did = ledger.create_distribution(asset_id=asset_id, idempotency_key="taxed", terms=terms,
                                     actor="maker")
    ledger.approve_distribution(did, "checker")
    snapshot = Snapshot.from_chunks([HOLDERS], decimals=ledger.get_asset(asset_id).decimals)
    ledger.snapshot_distribution(did, snapshot=snapshot, snapshot_ref="snap-taxed",
                                 gas_model=GasModel())
    story.execute(ledger, did, fail_every=9, retry=False)
    # A holder whose push failed claims its payment from the vault.
    claimant = next(leaf for b in ledger.batches(did) for i, leaf in b.leaves.items()
                    if i == 17)
    story.Chain(ledger).mine([LeafClaimed(did, 17, claimant.account, claimant.net,
                                          "0x" + "dd" * 32)])
    position = head(ledger)
    for runner in projector:
        runner.store.wait(APPLICATION, position, timeout=30)
    return did


@pytest.fixture
def settled(client, keys, chain, ledger, projector):
    return _settled_story(client, keys, chain, ledger, projector)


def _holders(client, keys, did):
    page = client.get(f"/distributions/{did}/holders?limit=500",
                      headers=auth(keys["viewer"])).json()
    return {h["account"]: h for h in page["items"]}


def _csv(response):
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    lines = list(csv.reader(io.StringIO(response.text)))
    return lines[0], [dict(zip(lines[0], line, strict=True)) for line in lines[1:]]


def test_the_tax_report_gives_each_settled_payment_with_its_rate_and_year_totals(
        client, keys, settled):
    holders = _holders(client, keys, settled)
    auditor = auth(keys["auditor"])
    r = client.get("/reports/tax/2026", headers=auditor)
    assert r.status_code == 200, r.text
    report = r.json()
    assert tuple(report["columns"]) == q.TAX.columns
    items = report["items"]
    # Settled payments only: paid or claimed, never the failed, pending or skipped.
    settled_rows = {a: h for a, h in holders.items() if h["status"] in ("PAID", "CLAIMED")}
    assert {i["account"] for i in items} == set(settled_rows)
    assert [i["account"] for i in items] == sorted(i["account"] for i in items)
    for item in items:
        row = settled_rows[item["account"]]
        assert (item["gross"], item["withheld"], item["net"], item["status"]) == (
            row["gross"], row["withheld"], row["net"], row["status"])
        # The rate the ledger applied, not one guessed back from the amounts.
        assert item["withholding_bps"] == (2_500 if item["account"] == OVERRIDE else 1_000)
        assert int(item["withheld"]) == int(item["gross"]) * item["withholding_bps"] // 10_000
        # One distribution in the year: the year's totals are the payment's.
        assert (item["year_gross"], item["year_withheld"], item["year_net"]) == (
            item["gross"], item["withheld"], item["net"])
    assert any(i["status"] == "CLAIMED" for i in items)
    # One holder's CSV: the same columns, in the documented order; another year is empty.
    header, rows = _csv(client.get(f"/reports/tax/2026/report.csv?holder={OVERRIDE.lower()}",
                                   headers=auditor))
    assert tuple(header) == q.TAX.columns
    assert [(r["account"], r["withholding_bps"]) for r in rows] == [(OVERRIDE, "2500")]
    assert client.get("/reports/tax/2025", headers=auditor).json()["items"] == []
    # The holder's statement totals over the year: the same sums, per payment token.
    [totals] = client.get(f"/reports/statements/{OVERRIDE}?from=2026-01-01T00:00:00Z",
                          headers=auditor).json()["items"]
    mine = holders[OVERRIDE]
    assert (totals["distributions"], totals["gross"], totals["withheld"], totals["net"]) == (
        1, mine["gross"], mine["withheld"], mine["net"])
    settled_net = mine["net"] if mine["status"] in ("PAID", "CLAIMED") else "0"
    assert totals["settled_net"] == settled_net
    header, _ = _csv(client.get(f"/reports/statements/{OVERRIDE}/totals.csv?to=2026-01-01"
                                "T00:00:00Z", headers=auditor))
    assert tuple(header) == q.STATEMENT_TOTALS.columns
    # Reports are for auditors, admins and operators; a viewer is refused.
    assert client.get("/reports/tax/2026", headers=auth(keys["viewer"])).status_code == 403
    assert client.get("/reports/tax/2026", headers=auth(keys["operator"])).status_code == 200
    # Bad input is a problem, never a 500.
    assert client.get("/reports/tax/0", headers=auditor).status_code == 400
    wrong = OVERRIDE[:2] + OVERRIDE[2:].swapcase()
    assert client.get(f"/reports/tax/2026?holder={wrong}", headers=auditor).status_code == 422


def test_withheld_issuer_and_unclaimed_reports_add_up_to_the_distribution(
        client, keys, settled):
    holders = _holders(client, keys, settled)
    admin = auth(keys["admin"])
    settled_statuses = ("PAID", "CLAIMED")
    entitled = [h for h in holders.values() if h["status"] != "SKIPPED"]
    # For the authority, per distribution: withheld on settled and on unsettled payments.
    [withheld] = client.get("/reports/withheld?from=2026-01-01T00:00:00Z"
                            "&to=2027-01-01T00:00:00Z", headers=admin).json()["items"]
    on_settled = sum(int(h["withheld"]) for h in entitled if h["status"] in settled_statuses)
    on_unsettled = sum(int(h["withheld"]) for h in entitled
                       if h["status"] not in settled_statuses)
    assert (withheld["distribution_id"], withheld["default_withholding_bps"]) == (
        str(settled), 1_000)
    assert (int(withheld["withheld_settled"]), int(withheld["withheld_unsettled"])) == (
        on_settled, on_unsettled)
    assert int(withheld["withheld_total"]) == on_settled + on_unsettled
    # …and per holder, in leaf order, skipped holders left out.
    header, rows = _csv(client.get(f"/reports/withheld/{settled}/holders.csv", headers=admin))
    assert tuple(header) == q.WITHHELD_HOLDERS.columns
    assert [r["account"] for r in rows] == [h["account"] for h in entitled]
    assert sum(int(r["withheld"]) for r in rows) == on_settled + on_unsettled
    assert client.get(f"/reports/withheld/{UUID(int=7)}", headers=admin).status_code == 404
    # The issuer's report: the distribution's totals, failures, claims and gas.
    header, [issuer] = _csv(client.get("/reports/issuer.csv?from=2026-06-01T00:00:00Z",
                                       headers=admin))
    assert tuple(header) == q.ISSUER.columns
    failed = [h for h in entitled if h["status"] == "FAILED"]
    claimed = [h for h in entitled if h["status"] == "CLAIMED"]
    assert (issuer["status"], int(issuer["failed_count"]), int(issuer["claimed_count"])) == (
        "COMPLETED_WITH_FAILURES", len(failed), len(claimed) == 1 and 1)
    assert int(issuer["failed_amount"]) == sum(int(h["net"]) for h in failed)
    assert int(issuer["claimed_amount"]) == sum(int(h["net"]) for h in claimed)
    assert int(issuer["gross"]) == int(issuer["net"]) + int(issuer["withheld"]) \
        + int(issuer["dust"]) + int(issuer["skipped_amount"])
    assert int(issuer["gas_used"]) > 0 and (issuer["reclaimed"], issuer["swept"]) == ("0", "0")
    assert client.get("/reports/issuer?to=2026-06-01T00:00:00Z",
                      headers=admin).json()["items"] == []
    # Unclaimed: the failed holders who have not claimed, with the deadline.
    unclaimed = client.get(f"/reports/unclaimed?distribution={settled}",
                           headers=admin).json()["items"]
    assert [u["account"] for u in unclaimed] == [h["account"] for h in failed]
    deadline = story.RECORD + timedelta(days=90)
    assert {datetime.fromisoformat(u["claim_deadline"]) for u in unclaimed} == {deadline}
    assert all(u["deadline_passed"] == (deadline <= datetime.now(UTC)) for u in unclaimed)
    header, rows = _csv(client.get("/reports/unclaimed.csv", headers=admin))
    assert tuple(header) == q.UNCLAIMED.columns and len(rows) == len(failed)
