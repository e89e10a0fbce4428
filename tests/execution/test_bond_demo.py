"""`mass-payout demo --scenario bond` (issue #16, done-when): a bond issued to 20 holders pays
two quarterly coupons from its rate and is redeemed at maturity on anvil, the chain's clock
moved to each date; every distribution ends reconciled, units redeemed included. One holder
is blocked by the stablecoin: it fails alone each time, keeping its units."""

from __future__ import annotations

import json

from tests.test_newcomer import mass_payout

HOLDERS = 20


def test_the_bond_scenario_pays_two_coupons_and_redeems_at_maturity(tmp_path, database_url,
                                                                     redis_url):
    done = mass_payout("demo", "--scenario", "bond", "--holders", str(HOLDERS), "--blocked",
                       "1", "--workers", "1", "--json",
                       env={"MASS_PAYOUT_VAR": str(tmp_path), "DATABASE_URL": database_url,
                            "REDIS_URL": redis_url}, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["reconciled"] is True
    assert summary["statuses"] == dict.fromkeys(("coupon-1", "coupon-2", "redemption"),
                                                "COMPLETED_WITH_FAILURES")
    assert (summary["holders"], summary["paid"], summary["failed"]) == (HOLDERS, 57, 3)
    # Coupons by rate: 5 % a year over a quarter is about 1.25 % of the principal each.
    coupons = summary["net_by_distribution"]
    principal = coupons.pop("redemption")
    for net in coupons.values():
        assert principal * 0.012 < net < principal * 0.013
    # Every unit but the blocked holder's (at most 10,099) was redeemed, at 1,000 USD a whole
    # unit (100 smallest units): the principal not paid is the blocked holder's.
    unpaid = principal - summary["units_redeemed"] * 10**7
    assert 100 * 10**7 <= unpaid <= 10_099 * 10**7
    assert summary["withheld"] == 0 and summary["skipped"] == 0
