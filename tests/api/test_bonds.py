"""Bonds through the API: coupon terms, coupons by rate, the coupon schedule, and a cash-out
refused before maturity. Real PostgreSQL and projections; the bond is imported straight into
the ledger (its token's facts as an import would read them)."""

from __future__ import annotations

from datetime import date
from fractions import Fraction
from uuid import UUID

from domain.asset import BondTerms
from domain.daycount import DayCount
from domain.terms import RuleKind
from tests.api.conftest import auth

USD = "0x" + "b2" * 20
TERMS = {"coupon_rate": "0.05", "frequency": "QUARTERLY", "day_count": "ACT_360",
         "issue_date": "2027-01-01", "reason": "prospectus p. 4"}


def bond(ledger) -> UUID:
    asset_id = ledger.import_asset(chain_id=31337, token_address="0x" + "b0" * 20, name="Bond",
                                   symbol="BND", decimals=2, kind="BOND", payment_token=USD,
                                   payment_decimals=6, vault_address=None, actor="importer")
    ledger.update_bond_terms(asset_id, BondTerms(1_000_000_000, date(2028, 1, 1)),
                             actor="importer", reason="read from the token")
    return asset_id


def test_bond_terms_are_set_with_actor_and_reason_and_bad_ones_name_their_field(
        client, keys, ledger):
    asset_id = bond(ledger)
    op = auth(keys["operator"])
    url = f"/assets/{asset_id}/bond-terms"
    # Bad input: a rate over 100 %, an unknown day count or frequency → 422 naming the field.
    for name, bad in (("coupon_rate", "1.01"), ("day_count", "ACT_999"),
                      ("frequency", "FORTNIGHTLY")):
        before = ledger.recorder.max_notification_id()
        r = client.put(url, json={**TERMS, name: bad}, headers=op)
        assert r.status_code == 422, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["field"] == name and name in r.json()["detail"]
        assert ledger.recorder.max_notification_id() == before  # nothing recorded
    # Good terms: recorded once with the actor and the reason; the token's nominal and
    # maturity are kept.
    r = client.put(url, json=TERMS, headers=op)
    assert r.status_code == 200, r.text
    asset = ledger.get_asset(asset_id)
    assert asset.bond_terms == BondTerms(1_000_000_000, date(2028, 1, 1), date(2027, 1, 1),
                                         Fraction(1, 20), 3, DayCount.ACT_360)
    last = ledger.repository.get(asset_id)
    assert last.version == 3
    # The same terms again record nothing.
    assert client.put(url, json=TERMS, headers=op).json()["position"] == r.json()["position"]


def test_a_coupon_by_rate_and_the_coupon_schedule_come_from_the_bond_terms(client, keys, ledger):
    asset_id = bond(ledger)
    op = auth(keys["operator"])
    assert client.put(f"/assets/{asset_id}/bond-terms", json=TERMS, headers=op).status_code == 200
    # Coupon 2 by number: nominal x 5 % x ACT/360 over [1 Apr, 1 Jul) (91 days).
    body = {"asset_id": str(asset_id), "kind": "COUPON", "rule": {"kind": "RATE", "coupon": 2},
            "record_date": "2027-07-01T00:00:00Z"}
    r = client.post("/distributions", json=body, headers={**op, "Idempotency-Key": "c2"})
    assert r.status_code == 201, r.text
    rule = ledger.get_distribution(UUID(r.json()["distribution_id"])).terms.rule
    assert rule.kind is RuleKind.RATE and rule.value == 1_000_000_000
    assert rule.accrual is not None
    assert (rule.accrual.start, rule.accrual.end) == (date(2027, 4, 1), date(2027, 7, 1))
    assert rule.accrual.per_nominal == Fraction(1, 20) * Fraction(91, 360)
    # A coupon by its own accrual: a bad rate or day count names its field.
    own = {"kind": "RATE", "value": "1000", "rate": "1.5", "day_count": "ACT_360",
           "period_start": "2027-01-01", "period_end": "2027-04-01"}
    for rule_body, field in ((own, "rule.rate"), ({**own, "rate": "0.04", "day_count": "X"},
                                                  "rule.day_count")):
        r = client.post("/distributions", json={**body, "rule": rule_body},
                        headers={**op, "Idempotency-Key": f"bad-{field}"})
        assert r.status_code == 422 and r.json()["field"] == field, r.text
    # One schedule pays every coupon: four quarterly dates, the last at maturity.
    url = f"/assets/{asset_id}/coupon-schedule"
    r = client.post(url, json={"key": "coupons"}, headers=op)
    assert r.status_code == 201, r.text
    assert client.post(url, json={"key": "coupons"}, headers=op).status_code == 200  # replay
    schedule = ledger.get_schedule(UUID(r.json()["schedule_id"]))
    execution = schedule.terms.execution
    assert execution.start is not None and execution.start.date() == date(2027, 4, 1)
    assert execution.count == 4
    assert schedule.terms.rule.accrual is not None
    assert schedule.terms.rule.accrual.start == date(2027, 1, 1)


def test_a_cash_out_before_maturity_is_refused_and_at_maturity_redeems_at_nominal(
        client, keys, ledger):
    asset_id = bond(ledger)
    op = auth(keys["operator"])
    body = {"asset_id": str(asset_id), "kind": "CASH_OUT", "record_date": "2027-12-31T23:00:00Z"}
    before = ledger.recorder.max_notification_id()
    r = client.post("/distributions", json=body, headers={**op, "Idempotency-Key": "early"})
    assert r.status_code == 422 and "maturity" in r.json()["detail"], r.text
    assert ledger.recorder.max_notification_id() == before
    # At maturity, without a rule: the bond's nominal per whole unit.
    r = client.post("/distributions", json={**body, "record_date": "2028-01-01T00:00:00Z"},
                    headers={**op, "Idempotency-Key": "maturity"})
    assert r.status_code == 201, r.text
    rule = ledger.get_distribution(UUID(r.json()["distribution_id"])).terms.rule
    assert (rule.kind, rule.value) == (RuleKind.PER_UNIT, 1_000_000_000)


def test_the_cli_sets_terms_and_defines_the_coupon_schedule(monkeypatch, database_url, schema,
                                                            ledger):
    import typer
    from typer.testing import CliRunner

    from mass_payout import bond_cli

    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("MASS_PAYOUT_SCHEMA", schema)
    app = typer.Typer()
    bond_cli.register(app)
    runner = CliRunner()
    asset_id = str(bond(ledger))
    terms = ["terms", asset_id, "--actor", "ops", "--frequency", "QUARTERLY",
             "--day-count", "ACT_360", "--issue-date", "2027-01-01", "--reason", "prospectus"]
    # A rate over 100 %: one line naming the field, nothing recorded.
    refused = runner.invoke(app, ["bonds", *terms, "--coupon-rate", "2"])
    assert refused.exit_code == 2 and refused.stderr.startswith("refused: coupon_rate:")
    assert ledger.get_asset(UUID(asset_id)).bond_terms == BondTerms(1_000_000_000,
                                                                    date(2028, 1, 1))
    done = runner.invoke(app, ["bonds", *terms, "--coupon-rate", "0.05"])
    assert done.exit_code == 0, done.output
    made = runner.invoke(app, ["bonds", "coupon-schedule", asset_id, "--actor", "ops"])
    assert made.exit_code == 0 and "pending approval" in made.stdout, made.output
    schedule = ledger.get_schedule(UUID(made.stdout.split()[2]))
    assert schedule.terms.execution.count == 4
