"""`mass-payout bench e2e`: the full pipeline against a bare web3 loop, same chain, same batches.

Ours: from `start_execution` to every holder settled in the ledger — two RQ workers, the
ingestor (polling every 0.1 s) and the supervisor, on the embedded engines and anvil: the
ledger, queue and ingestion the goal speaks of. Projections are not run here (the demo runs
them); the clock starts once the workers are up and the ingestor has caught up with setup.
Beside the ratio it reports where the time went: when the first and last batches were
submitted and settled (from the events' own timestamps), and the CPU seconds each process
spent while paying (two cores are shared by everything here, the chain included), anvil's
during the bare loop too.
Bare: the same leaves re-announced under another distribution id, the same batch ranges sent
by a plain loop (build multiproof, encode, send, two in flight as with our two workers) with
no ledger, queue or ingestion.
Same chain work on both sides: paying a holder who holds no payment token yet creates its
balance (27k gas, against 10k for an existing one), and anvil's CPU is the bottleneck here. So
an untimed bare-loop payout under a third id goes first, and both timed payouts then pay
holders who already hold the token. Without it the pipeline, running first, paid the costlier
fresh balances and the bare loop the cheap ones (the ratio then mixed chain work into the
overhead it is meant to measure).
"""

from __future__ import annotations

import contextlib
import resource
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil
from eth_utils.crypto import keccak
from eventsourcing.domain import DomainEvent

from app.follow import Follower
from chain.contracts import send
from chain.vault import Entitlement, build_batch, encode_pay_batch
from devtools import pipeline
from devtools.devnet import fund_vault
from domain.batch import PayoutBatch
from domain.distribution import Distribution
from domain.merkle import MerkleTree, leaf_hash
from domain.planning import GasModel

POLL = 0.1  # ingestor and orchestrator polling; a fixed latency added once per payout
BARE_IN_FLIGHT = 2  # the bare loop's window: the pipeline runs two workers


def anvil_cpu() -> float:
    """CPU seconds of the dev chain(s) this process started, so far."""
    me = psutil.Process()
    total = 0.0
    for chain in (c for c in me.children(recursive=True) if c.name() == "anvil"):
        with contextlib.suppress(psutil.Error):
            times = chain.cpu_times()
            total += times.user + times.system
    return total


def _mined(net: Any, tx_hash: Any) -> None:
    if net.w3.eth.wait_for_transaction_receipt(tx_hash, poll_latency=0.005)["status"] != 1:
        raise RuntimeError("a bare-loop batch reverted")


def bare_loop(run: pipeline.PipelineRun, name: str = "bench-e2e-bare-loop") -> float:
    """Seconds for a plain web3 loop to pay the same batches under distribution id `name`.

    It keeps BARE_IN_FLIGHT transactions in flight, as many as our two workers can: measured
    here, that beats both sending all batches back to back (all of them in anvil's pool at once:
    5.6-5.9 s for 10,000 holders) and one at a time (5.3-5.9 s) at 3.7-4.1 s.
    """
    ledger, net = run.services.ledger, run.net
    distribution = ledger.get_distribution(run.distribution_id)
    if distribution.totals is None:
        raise RuntimeError("the distribution has no entitlements to pay")
    batches = list(ledger.batches(run.distribution_id))
    leaves = [(i, b.leaves[i].account, b.leaves[i].net) for b in batches for i in b.leaf_range]
    tree = MerkleTree([leaf_hash(*leaf) for leaf in leaves])
    key = keccak(text=name)
    deadline = int(time.time()) + 86_400
    send(net.vault.functions.announce(key, net.usd.address, tree.root, distribution.totals.net,
                                      len(leaves), deadline), net.admin)
    fund_vault(net, distribution.totals.net)
    model = GasModel()
    started = time.perf_counter()
    in_flight: list[Any] = []
    for b in batches:
        if not b.leaf_count:
            continue
        proof = tree.multiproof(b.leaf_range)
        call = build_batch([Entitlement(*leaves[i]) for i in b.leaf_range], proof.proof,
                           proof.flags)
        in_flight.append(net.w3.eth.send_transaction({
            "from": net.admin, "to": net.vault.address,
            "data": encode_pay_batch(key, call),
            "gas": model.gas_limit(b.leaf_count, len(leaves))}))
        if len(in_flight) >= BARE_IN_FLIGHT:
            _mined(net, in_flight.pop(0))
    for tx_hash in in_flight:
        _mined(net, tx_hash)
    return time.perf_counter() - started


PHASES: dict[type, str] = {PayoutBatch.Submitted: "submitted", PayoutBatch.Settled: "settled",
                           Distribution.Completed: "completed"}


def phases(run: pipeline.PipelineRun) -> dict[str, float]:
    """Seconds from start_execution to the first and last submission and settlement, and to
    the distribution's completion, from the events' timestamps (one clock: one machine)."""
    ledger, started = run.services.ledger, run.started_at
    if started is None:
        return {}
    seen: dict[str, list[datetime]] = {}
    for event in Follower(ledger, *PHASES).new_events():
        if isinstance(event, DomainEvent):
            seen.setdefault(PHASES[type(event)], []).append(event.timestamp)
    out: dict[str, float] = {}
    for name, stamps in seen.items():
        after = sorted((t - started).total_seconds() for t in stamps if t >= started)
        if after and name == "completed":
            out["completed"] = round(after[-1], 3)
        elif after:
            out[f"first_{name}"], out[f"last_{name}"] = round(after[0], 3), round(after[-1], 3)
    return out


ROUNDS = 3


def round_robin(rounds: int) -> list[tuple[str, str]]:
    """Each round's order: ours first in odd rounds, the bare loop first in even ones, so the
    chain's growing state (every payout adds bitmap words) tilts neither side."""
    return [("ours", "bare") if r % 2 == 0 else ("bare", "ours") for r in range(rounds)]


def nets_of(run: pipeline.PipelineRun) -> dict[str, int]:
    ledger = run.services.ledger
    return {b.leaves[i].account: b.leaves[i].net
            for b in ledger.batches(run.distribution_id) for i in b.leaf_range}


def run(*, holders: int | None = None, rounds: int = ROUNDS,
        log: Callable[[str], None] = print) -> dict[str, Any]:
    """`rounds` payouts by each side, alternating; the ratio is the median of the rounds'.

    Our processes are stopped while the bare loop pays, so they take none of the chain's
    CPU from it (the ingestor would otherwise read the bare loop's logs as it goes).
    """
    count = holders or 10_000
    measured: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="mp-bench-e2e-") as tmp:
        var = Path(tmp)
        with pipeline.engines(var) as env:
            log(f"preparing {count} holders")
            run_ = pipeline.prepare(env, holders=count, blocked=0, gas_model=GasModel(),
                                    observe=lambda _p: None)
            held: dict[str, int] = {}  # payment token each holder received so far

            def paid(nets: dict[str, int]) -> None:
                for account, amount in nets.items():
                    held[account] = held.get(account, 0) + amount

            try:
                log("warming up: the same payout by the bare loop, untimed (see above)")
                bare_loop(run_, "bench-e2e-warm-up")
                paid(nets_of(run_))
                for number, order in enumerate(round_robin(rounds)):
                    if number:
                        run_.distribution_id = pipeline.add_distribution(
                            run_, observe=lambda _p: None)
                    nets = nets_of(run_)
                    result: dict[str, Any] = {"round": number + 1}
                    for side in order:
                        log(f"round {number + 1}: {side}")
                        if side == "ours":
                            result.update(ours_once(run_, held, var))
                        else:
                            result.update(bare_once(run_, f"bench-e2e-bare-{number + 1}"))
                        paid(nets)
                    result["ratio"] = round(result["raw_seconds"] / result["seconds"], 3)
                    log(f"round {number + 1}: ratio {result['ratio']}")
                    measured.append(result)
            finally:
                run_.children.stop_all()
                run_.services.close()
    eligible = len(held)
    median_round = sorted(measured, key=lambda r: r["ratio"])[len(measured) // 2]
    memory = dict(run_.children.peak_rss_mb)
    memory["orchestrator"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return {
        "holders": count, "seconds": median_round["seconds"],
        "holders_per_second": round(eligible / median_round["seconds"], 1),
        "raw_holders_per_second": round(eligible / median_round["raw_seconds"], 1),
        "ratio": median_round["ratio"], "raw_seconds": median_round["raw_seconds"],
        "ratios": [r["ratio"] for r in measured], "rounds": measured,
        "peak_rss_mb": memory, "payees": "existing",
    }


def ours_once(run: pipeline.PipelineRun, held: dict[str, int], var: Path) -> dict[str, Any]:
    """The run's distribution through the pipeline; its processes are started (not timed)
    and stopped again afterwards."""
    run.held_before = dict(held)
    pipeline.start_processes(run, workers=2, poll=POLL, log_dir=var / "logs",
                             projections=False)
    try:
        pipeline.pay(run, observe=lambda _p: None, poll=POLL, projections=False)
    finally:
        run.children.stop_all()
    if not run.reconciliation.ok:
        raise RuntimeError(f"not reconciled: {run.reconciliation.differences[:5]}")
    return {"seconds": round(run.execution_seconds, 2), "phases_s": phases(run),
            "cpu_s": run.cpu_seconds}


def bare_once(run: pipeline.PipelineRun, name: str) -> dict[str, Any]:
    chain_before = anvil_cpu()
    seconds = bare_loop(run, name)
    return {"raw_seconds": round(seconds, 2),
            "raw_cpu_s": {"anvil": round(anvil_cpu() - chain_before, 2)}}
