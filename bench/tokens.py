"""`mass-payout bench tokens`: reading a token's snapshot on anvil, the demo's critical chain
reads. `holders` (default 2,000) are issued to the reference token, a snapshot is taken, and
its holders with their balances are read both ways the ATS adapter can:

- `balancesOfAtSnapshot` pages (ATS's paged view: one eth_call per 1,000 holders), what the
  reference token and current ATS tokens serve;
- the fallback for tokens without it: `getTokenHoldersAtSnapshot` pages plus JSON-RPC batches
  of `balanceOfAtSnapshot`, read through a contract serving only those views
  (contracts/src/test/OlderAtsSnapshots.sol) so the adapter takes that path for real.

"ok" means both reads give the same rows and the paged read is the faster; the figures are
this shared machine's, best of three each.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from chain.contracts import deploy
from chain.token_reader import holders_at_snapshot
from devtools.devchain import Anvil
from devtools.devnet import deploy_devnet, holder_addresses, issue_shares, take_snapshot

ROUNDS = 3


def run(*, holders: int | None = None, log: Callable[[str], None] = print) -> dict[str, Any]:
    count = holders or 2_000
    with Anvil(accounts=4) as w3:
        net = deploy_devnet(w3, holders=0)
        grants = [(h, 100 + i) for i, h in enumerate(holder_addresses(count, "bench-tokens"))]
        started = time.perf_counter()
        issue_shares(net, grants)
        issue_seconds = time.perf_counter() - started
        log(f"issued to {count} holders in {issue_seconds:.2f}s")
        snapshot_id = take_snapshot(net)
        older = deploy(w3, "OlderAtsSnapshots", net.token.address, sender=net.admin)

        def read(token: str) -> tuple[float, list[tuple[str, int]]]:
            best, rows = float("inf"), []
            for _ in range(ROUNDS):
                started = time.perf_counter()
                rows = [row for page in holders_at_snapshot(w3, token, snapshot_id)
                        for row in page]
                best = min(best, time.perf_counter() - started)
            return best, rows

        paged_seconds, paged = read(net.token.address)
        fallback_seconds, fallback = read(older.address)
        log(f"read {len(paged)} holders: paged {paged_seconds:.2f}s,"
            f" holders + batched balances {fallback_seconds:.2f}s")
    return {"bench": "tokens", "holders": count, "issue_seconds": round(issue_seconds, 3),
            "paged_read_seconds": round(paged_seconds, 3),
            "fallback_read_seconds": round(fallback_seconds, 3),
            "ok": paged == fallback and len(paged) == count
            and paged_seconds < fallback_seconds}
