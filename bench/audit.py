"""`mass-payout bench audit`: the audit tools on a ledger holding one big paid distribution.

The ledger (embedded PostgreSQL unless DATABASE_URL is set) gets a distribution of `holders`
(100,000 by default) told the way workers and the ingestor tell it (`devtools.payout_story`:
snapshot, a submission and the chain's facts per batch, every 97th payment failing and
retried), and its read models built live. Then, each timed on its own:
- `audit replay`: every read model rebuilt into a fresh schema and compared with the live
  one (events/s over the ledger, holder rows/s);
- as-of at the middle of its payments: `as_of_ms` is the API's answer, the distribution
  (its own events) plus one page of 100 leaves (the batches covering it); getDistribution
  and listHolders with ?as_of= beside it (the former replays every batch to count the
  settled ones, the latter one page's batches); the CLI's
  `audit as-of`, every batch replayed and every holder counted, is reported beside it;
- `audit verify`: conservation holder by holder from the ledger (`verify_seconds`): this
  ledger is told from story data, no chain holds its vault, so no vault comparison here;
- `audit verify` against a real chain (`verify_chain_seconds`): the vault comparison needs a
  vault that paid the distribution, so the demo's pipeline (`devtools.pipeline`: anvil, two
  workers, the ingestor) pays one of CHAIN_HOLDERS holders first, then verify reads the vault
  holder by holder. That pipeline (contracts, shares minted per holder, a chain snapshot,
  real worker processes) is run at CHAIN_HOLDERS, not at `holders`: at 100,000 its setup
  and payout would be most of the bench's time, and verify's chain reads grow with the
  holders as its ledger side does (`verify_chain_holders` says the size);
- `audit verify-log`: the hash chain over every stored event (events/s).
"""

from __future__ import annotations

import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from api.controllers.audit import distribution_as_of_view, holder_page_as_of
from app.audit_asof import distribution_as_of, distribution_at, leaves_as_of
from app.audit_log import verify_chain
from app.audit_verify import DistributionAudit, audit_distributions
from devtools import payout_story as story
from devtools import pipeline
from domain.planning import GasModel
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


CHAIN_HOLDERS = 2_000  # the chain-checked verify's size: set up and paid in under a minute


def verify_on_chain(holders: int, log: Callable[[str], None]) -> tuple[float, DistributionAudit]:
    """`audit verify` of a distribution of `holders` that real processes paid on anvil (3 of
    them blocklisted: some failed leaves to tell apart), with the chain checked."""
    with tempfile.TemporaryDirectory(prefix="mp-bench-audit-chain-") as tmp, \
            pipeline.engines(Path(tmp)) as env:
        log(f"paying {holders} holders on anvil for the chain-checked verify")
        run_ = pipeline.prepare(env, holders=holders, blocked=3, gas_model=GasModel(),
                                observe=lambda _p: None)
        try:
            try:
                pipeline.execute(run_, workers=2, observe=lambda _p: None,
                                 log_dir=Path(tmp) / "logs", projections=False)
            finally:
                run_.children.stop_all()
            did, w3 = run_.distribution_id, run_.net.w3
            seconds, (audit,) = _timed(lambda: list(audit_distributions(
                run_.services.ledger, w3, only=[did])))
        finally:
            run_.services.close()
    log(f"verify against the chain: {seconds:.1f}s, ok={audit.ok}")
    return seconds, audit


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
        # What getDistribution and listHolders answer with ?as_of= (the former replays
        # every batch for batches_settled; the latter the batches of one page).
        route_seconds, _ = _timed(lambda: distribution_as_of_view(ledger, did, str(middle)))
        holders_seconds, (_, holder_page) = _timed(lambda: holder_page_as_of(
            ledger, did, str(middle), -1, 100, None))
        log(f"as-of routes: getDistribution {route_seconds * 1000:.0f} ms, listHolders"
            f" {holders_seconds * 1000:.0f} ms")
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
    on_chain_seconds, on_chain = verify_on_chain(CHAIN_HOLDERS, log)
    ok = report.ok and all(a.ok for a in audits) and chain.ok and len(page) == 100 \
        and len(holder_page.items) == 100 \
        and on_chain.ok and on_chain.chain_checked
    return {
        "holders": count,
        "events": events,
        "replay_seconds": round(replay_seconds, 2),
        "replay_events_per_second": round(events / replay_seconds),
        "replay_holder_rows_per_second": round(rows / replay_seconds),
        "as_of_ms": round((as_of_seconds + page_seconds) * 1000, 1),
        "as_of_distribution_ms": round(as_of_seconds * 1000, 1),
        "as_of_page_ms": round(page_seconds * 1000, 1),
        "as_of_get_distribution_ms": round(route_seconds * 1000, 1),
        "as_of_list_holders_ms": round(holders_seconds * 1000, 1),
        "as_of_every_holder_seconds": round(full_seconds, 2),
        "verify_seconds": round(verify_seconds, 2),
        "verify_chain_seconds": round(on_chain_seconds, 2),
        "verify_chain_holders": CHAIN_HOLDERS,
        "verify_chain_checked": on_chain.chain_checked,
        "chain_verify_events_per_second": round(events / chain_seconds),
        "live_projection_seconds": round(project_seconds, 2),
        "ok": ok,
    }
