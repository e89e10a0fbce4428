"""Benchmarks, run as `mass-payout bench NAME --json` (one JSON object on the last line).

Each module exposes `run(*, holders: int | None, log: Callable[[str], None]) -> dict`.
Performance goals live here, never in timed tests: this machine is shared and noisy.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

BENCHES = {
    "ledger": "bench.ledger",
    "gas": "bench.gas",
    "e2e": "bench.e2e",
    "api": "bench.api",
    "scheduler": "bench.scheduler",
    "chaos": "bench.chaos",
    "panel": "bench.panel",
    "audit": "bench.audit",
    "webhooks": "bench.webhooks",
    "hts": "bench.hts",
    "tokens": "bench.tokens",
}

Runner = Callable[..., dict[str, Any]]


def load(name: str) -> Runner:
    try:
        module = importlib.import_module(BENCHES[name])
    except KeyError:
        raise LookupError(f"unknown benchmark {name!r}; choose from {', '.join(BENCHES)}") from None
    runner: Runner = module.run
    return runner
