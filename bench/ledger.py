"""`mass-payout bench ledger`: entitlement math, Merkle tree and the atomic snapshot save.

Two phases in one run: (1) the pure computation — entitlements, leaf hashes, tree, range
proofs — timed on its own (`entitlement_seconds`); (2) the real ledger command on PostgreSQL
(embedded unless DATABASE_URL is set), with the time inside `save()` measured to give the
store's append rate. Each batch records its holders' entitlements in one event, so the rate
that matters is holder entitlements appended per second (`append_holders_per_second`); the
event count and rate are reported beside it. Peak RSS is the process high-water mark across
both.
"""

from __future__ import annotations

import resource
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from devtools.smoke import sample_holders
from domain.entitlements import EntitlementCalculator, Snapshot
from domain.merkle import MerkleTree, leaf_hash
from domain.planning import GasModel, plan_batches
from domain.terms import DistributionKind, DistributionTerms, Rule, RuleKind, Withholding
from runtime.engines import database, open_ledger
from runtime.settings import Settings

TERMS = DistributionTerms(
    kind=DistributionKind.DIVIDEND, rule=Rule(RuleKind.PRO_RATA, 10**12),
    record_date=datetime(2026, 11, 1, tzinfo=UTC), withholding=Withholding(1_000),
    minimum_payout=2, concept="ledger benchmark",
)


def compute_only(snapshot: Snapshot, gas_model: GasModel) -> tuple[float, int, bytes]:
    started = time.perf_counter()
    calculator = EntitlementCalculator(TERMS, snapshot, asset_decimals=18)
    hashes: list[bytes] = []

    def hashed() -> Any:
        for e in calculator:
            if e.leaf_index is not None:
                hashes.append(leaf_hash(e.leaf_index, e.account, e.net))
            yield e

    plans = list(plan_batches(hashed(), gas_model.capacity(calculator.eligible_count),
                              gas_model.max_holders_per_batch))
    tree = MerkleTree(hashes)
    for plan in plans:
        if plan.leaf_count:
            tree.range_proof(plan.first_leaf, plan.leaf_count)
    return time.perf_counter() - started, len(plans), tree.root


def run(*, holders: int | None = None, log: Callable[[str], None] = print) -> dict[str, Any]:
    count = holders or 100_000
    gas_model = GasModel()
    log(f"generating {count} holders")
    rows = sample_holders(count, seed=42)
    snapshot = Snapshot.from_chunks((rows[i:i + 1_000] for i in range(0, count, 1_000)), 18)
    del rows

    entitlement_seconds, batches, root = compute_only(snapshot, gas_model)
    log(f"entitlements + tree + planning: {entitlement_seconds:.2f}s, {batches} batches")

    settings = Settings.from_env()
    with tempfile.TemporaryDirectory(prefix="mp-bench-") as tmp, \
            database(settings, Path(tmp) / "pg") as url:
        ledger = open_ledger(url, f"bench_{uuid.uuid4().hex[:8]}")
        save_seconds = 0.0
        events_written = 0
        original_save = ledger.save

        def timed_save(*aggregates: Any, **kwargs: Any) -> Any:
            nonlocal save_seconds, events_written
            started = time.perf_counter()
            recordings = original_save(*aggregates, **kwargs)
            save_seconds += time.perf_counter() - started
            events_written += len(recordings)
            return recordings

        ledger.save = timed_save  # type: ignore[method-assign]  # instrumentation only
        asset_id = ledger.import_asset(
            chain_id=31337, token_address="0x" + "c3" * 20, name="Bench", symbol="BNC",
            decimals=18, kind="EQUITY", payment_token="0x" + "d4" * 20, payment_decimals=6,
            vault_address=None, actor="bench",
        )
        distribution_id = ledger.create_distribution(
            asset_id=asset_id, idempotency_key="bench", terms=TERMS, actor="maker")
        ledger.approve_distribution(distribution_id, "checker")
        started = time.perf_counter()
        ledger.snapshot_distribution(distribution_id, snapshot=snapshot, snapshot_ref="bench",
                                     gas_model=gas_model)
        command_seconds = time.perf_counter() - started
        recorded_root = ledger.get_distribution(distribution_id).merkle_root
        ledger.close()
    if recorded_root != "0x" + root.hex():
        raise RuntimeError("the ledger's root differs from the standalone computation")
    log(f"snapshot command: {command_seconds:.2f}s, {events_written} events")
    return {
        "holders": count,
        "entitlement_seconds": round(entitlement_seconds, 3),
        "events_written": events_written,
        "append_events_per_second": round(events_written / save_seconds),
        "append_holders_per_second": round(count / save_seconds),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "snapshot_command_seconds": round(command_seconds, 2),
        "save_seconds": round(save_seconds, 2),
        "batches": batches,
    }
