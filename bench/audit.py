"""`mass-payout bench audit`: the audit tools on a ledger holding one big paid distribution.

The ledger (embedded PostgreSQL unless DATABASE_URL is set) gets a distribution of `holders`
(100,000 by default) told the way workers and the ingestor tell it (`devtools.payout_story`:
snapshot, a submission and the chain's facts per batch, every 97th payment failing and
retried), and its read models built live. Then, each timed on its own:
- `audit replay`: every read model rebuilt into a fresh schema and compared with the live
  one (events/s over the ledger, holder rows/s);
- as-of at the middle of its payments: `as_of_ms` is the API's answer, the distribution
  (its own events) plus one page of 100 leaves (the batches covering it); the CLI's
  `audit as-of`, every batch replayed and every holder counted, is reported beside it;
- `audit verify`: conservation holder by holder from the ledger. Without a chain here, the
  vault comparison is not made (`verify_chain_checked: false`; `tests/audit/
  test_verify_on_chain.py` runs it against a real EVM);
- `audit verify-log`: the hash chain over every stored event (events/s).
"""

from __future__ import annotations

import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.audit_asof import distribution_as_of, distribution_at, leaves_as_of
from app.audit_log import verify_chain
from app.audit_verify import audit_distributions
from devtools import payout_story as story
from projections.registry import open_all
from projections.replay import replay
from projections.runner import Runner
from projections.store import views_datastore
from runtime.engines import database, open_ledger
from runtime.settings import Settings


def _timed(work: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = work()
    return time.perf_counter() - started, result


def run(*, holders: int | None = None, log: Callable[[str], None] = print) -> dict[str, Any]:
    count = holders or 100_000
    settings = Settings.from_env()
    schema = f"bench_audit_{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory(prefix="mp-bench-") as tmp, \
            database(settings, Path(tmp) / "pg") as url:
        ledger = open_ledger(url, schema)
        log(f"recording a distribution of {count} holders and its payments")
        asset = story.import_asset(ledger)
        build_seconds, did = _timed(lambda: story.snapshotted(ledger, asset, count))
        story.commit_and_start(ledger, did)
        middle = ledger.recorder.max_notification_id() or 0
        pay_seconds, failed = _timed(lambda: story.pay(ledger, did))
        events = ledger.recorder.max_notification_id() or 0
        middle += (events - middle) // 2  # half the batches paid by then
        log(f"snapshot {build_seconds:.1f}s, payments {pay_seconds:.1f}s ({failed} failed"
            f" first), {events} events")
        views = views_datastore(url, schema)
        project_seconds, _ = _timed(lambda: [Runner(ledger, p, max_events=250_000,
                                                    max_seconds=10.0, page=10_000).catch_up()
                                             for p in open_all(views)])
        log(f"live read models: {project_seconds:.1f}s")

        replay_seconds, report = _timed(lambda: replay(ledger, url, schema))
        rows = sum(t.fresh_rows for t in report.tables if t.table == "distribution_holders")
        log(f"replay: {replay_seconds:.1f}s, ok={report.ok}")
        # What GET …/as-of and …/as-of/leaves answer: the distribution, and one page.
        as_of_seconds, _ = _timed(lambda: distribution_at(ledger, did, position=middle))
        page_seconds, page = _timed(lambda: leaves_as_of(ledger, did, position=middle,
                                                         first_leaf=0, limit=100))
        # What `audit as-of` prints: every batch replayed, every holder's outcome counted.
        full_seconds, state = _timed(lambda: distribution_as_of(ledger, did, position=middle))
        log(f"as-of: distribution {as_of_seconds * 1000:.0f} ms, page"
            f" {page_seconds * 1000:.0f} ms, every holder ({sum(state.holders.values())})"
            f" {full_seconds:.1f} s")
        verify_seconds, audits = _timed(lambda: list(audit_distributions(ledger)))
        log(f"verify: {verify_seconds:.1f}s")
        chain_seconds, chain = _timed(lambda: verify_chain(ledger))
        log(f"verify-log: {chain_seconds:.1f}s")
        ledger.close()
        views.close()
    ok = report.ok and all(a.ok for a in audits) and chain.ok and len(page) == 100
    return {
        "holders": count,
        "events": events,
        "replay_seconds": round(replay_seconds, 2),
        "replay_events_per_second": round(events / replay_seconds),
        "replay_holder_rows_per_second": round(rows / replay_seconds),
        "as_of_ms": round((as_of_seconds + page_seconds) * 1000, 1),
        "as_of_distribution_ms": round(as_of_seconds * 1000, 1),
        "as_of_page_ms": round(page_seconds * 1000, 1),
        "as_of_every_holder_seconds": round(full_seconds, 2),
        "verify_seconds": round(verify_seconds, 2),
        "verify_chain_checked": False,
        "chain_verify_events_per_second": round(events / chain_seconds),
        "live_projection_seconds": round(project_seconds, 2),
        "ok": ok,
    }
