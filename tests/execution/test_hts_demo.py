"""`mass-payout demo --rail hts` (issue #18, done-when): the dividend paid by native HTS
transfers on the STAND-IN Hedera network and Mirror Node, with real worker, supervisor and
projection processes, ends RECONCILED holder by holder against the Mirror Node stand-in.
Two holders are blocked (one frozen, one without KYC for the payment token): they fail alone,
the others are paid."""

from __future__ import annotations

import json

from tests.test_newcomer import mass_payout

HOLDERS = 4


def test_the_demo_on_the_hts_rail_pays_the_holders_and_reconciles(tmp_path, database_url,
                                                                   redis_url):
    done = mass_payout("demo", "--rail", "hts", "--holders", str(HOLDERS), "--blocked", "2",
                       "--workers", "1", "--json",
                       env={"MASS_PAYOUT_VAR": str(tmp_path), "DATABASE_URL": database_url,
                            "REDIS_URL": redis_url}, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:] + done.stdout[-3000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    # The dividend demo's summary, plus the rail.
    assert set(summary) == {"holders", "paid", "failed", "skipped", "gross", "net", "withheld",
                            "dust", "gas_per_holder", "seconds", "reconciled", "rail"}
    assert summary["rail"] == "hts" and summary["reconciled"] is True
    # Every holder has an outcome: the treasury skipped, the two blocked failed, the rest paid.
    assert (summary["holders"], summary["paid"], summary["failed"], summary["skipped"]) == \
        (HOLDERS + 1, HOLDERS - 2, 2, 1)
    # Conservation: the pool is what the holders are owed, what is withheld and the dust.
    assert summary["gross"] == summary["net"] + summary["withheld"] + summary["dust"] > 0
    assert summary["gas_per_holder"] is None  # no EVM gas: hbar fees
