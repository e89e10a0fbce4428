"""`mass-payout bench e2e`: the full pipeline against a bare web3 loop, same chain, same batches.

Ours: from `start_execution` to every holder settled in the ledger — two RQ workers, the
ingestor (polling every 0.1 s) and the supervisor, on the embedded engines and anvil: the
ledger, queue and ingestion the goal speaks of. Projections are not run here (the demo runs
them); the clock starts once the workers are up and the ingestor has caught up with setup.
Beside the ratio it reports where the time went: when the first and last batches were
submitted and settled (from the events' own timestamps), and the CPU seconds each process
spent while paying (two cores are shared by everything here, the chain included).
Bare: the same leaves re-announced under a second distribution id, the same batch ranges sent
back to back by a plain loop (build multiproof, encode, send; one wait for the last receipt)
with no ledger, queue or ingestion. The bare loop runs second, so its holders already hold the
payment token (cheaper storage writes): the comparison is, if anything, tilted against us.
"""

from __future__ import annotations

import resource
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from eth_utils.crypto import keccak
from eventsourcing.domain import DomainEvent

from chain.contracts import send
from chain.vault import Entitlement, build_batch, encode_pay_batch
from domain.batch import PayoutBatch
from domain.distribution import Distribution
from domain.merkle import MerkleTree, leaf_hash
from domain.planning import GasModel
from mass_payout import pipeline
from mass_payout.devnet import fund_vault

POLL = 0.1  # ingestor and orchestrator polling; a fixed latency added once per payout


def bare_loop(run: pipeline.PipelineRun) -> float:
    """Seconds for a plain web3 loop to pay the same batches under a fresh distribution id."""
    ledger, net = run.services.ledger, run.net
    distribution = ledger.get_distribution(run.distribution_id)
    if distribution.totals is None:
        raise RuntimeError("the distribution has no entitlements to pay")
    batches = list(ledger.batches(run.distribution_id))
    leaves = [(i, b.leaves[i].account, b.leaves[i].net) for b in batches for i in b.leaf_range]
    tree = MerkleTree([leaf_hash(*leaf) for leaf in leaves])
    key = keccak(text="bench-e2e-bare-loop")
    deadline = int(time.time()) + 86_400
    send(net.vault.functions.announce(key, net.usd.address, tree.root, distribution.totals.net,
                                      len(leaves), deadline), net.admin)
    fund_vault(net, distribution.totals.net)
    model = GasModel()
    started = time.perf_counter()
    last = None
    for b in batches:  # back to back, no receipt waits: the fastest plain loop there is
        if not b.leaf_count:
            continue
        proof = tree.multiproof(b.leaf_range)
        call = build_batch([Entitlement(*leaves[i]) for i in b.leaf_range], proof.proof,
                           proof.flags)
        last = net.w3.eth.send_transaction({
            "from": net.admin, "to": net.vault.address,
            "data": encode_pay_batch(key, call),
            "gas": model.gas_limit(b.leaf_count, len(leaves))})
    if last is not None and net.w3.eth.wait_for_transaction_receipt(last)["status"] != 1:
        raise RuntimeError("the bare loop's last batch reverted")
    return time.perf_counter() - started


PHASE_TOPICS = {f"{e.__module__}:{e.__qualname__}": name for e, name in (
    (PayoutBatch.Submitted, "submitted"), (PayoutBatch.Settled, "settled"),
    (Distribution.Completed, "completed"))}


def phases(run: pipeline.PipelineRun) -> dict[str, float]:
    """Seconds from start_execution to the first and last submission and settlement, and to
    the distribution's completion, from the events' timestamps (one clock: one machine)."""
    ledger, started = run.services.ledger, run.started_at
    if started is None:
        return {}
    seen: dict[str, list[datetime]] = {}
    position = 0
    while page := ledger.recorder.select_notifications(start=position + 1, limit=1_000,
                                                        topics=list(PHASE_TOPICS)):
        for n in page:
            event = ledger.mapper.to_domain_event(n)
            if isinstance(event, DomainEvent):
                seen.setdefault(PHASE_TOPICS[n.topic], []).append(event.timestamp)
        position = page[-1].id
    out: dict[str, float] = {}
    for name, stamps in seen.items():
        after = sorted((t - started).total_seconds() for t in stamps if t >= started)
        if after and name == "completed":
            out["completed"] = round(after[-1], 3)
        elif after:
            out[f"first_{name}"], out[f"last_{name}"] = round(after[0], 3), round(after[-1], 3)
    return out


def run(*, holders: int | None = None, log: Callable[[str], None] = print) -> dict[str, Any]:
    count = holders or 10_000
    with tempfile.TemporaryDirectory(prefix="mp-bench-e2e-") as tmp:
        var = Path(tmp)
        with pipeline.engines(var) as env:
            log(f"preparing {count} holders")
            run_ = pipeline.prepare(env, holders=count, blocked=0, gas_model=GasModel(),
                                    observe=lambda _p: None)
            try:
                log("paying through ledger, queue, workers and ingestion")
                pipeline.execute(run_, workers=2, observe=lambda _p: None, log_dir=var / "logs",
                                 poll=POLL, projections=False)
            finally:
                run_.children.stop_all()
            if not run_.reconciliation.ok:
                raise RuntimeError(f"not reconciled: {run_.reconciliation.differences[:5]}")
            log("paying the same batches with a bare web3 loop")
            raw_seconds = bare_loop(run_)
            eligible = run_.services.ledger.get_distribution(run_.distribution_id).paid
            timeline = phases(run_)
            run_.services.close()
    ours = eligible / run_.execution_seconds
    raw = eligible / raw_seconds
    memory = dict(run_.children.peak_rss_mb)
    memory["orchestrator"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return {
        "holders": count, "seconds": round(run_.execution_seconds, 2),
        "holders_per_second": round(ours, 1), "raw_holders_per_second": round(raw, 1),
        "ratio": round(ours / raw, 3), "raw_seconds": round(raw_seconds, 2),
        "peak_rss_mb": memory, "phases_s": timeline, "cpu_s": run_.cpu_seconds,
    }
