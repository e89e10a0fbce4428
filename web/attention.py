"""What needs a person now: the README's operator table, as data for the dashboard.

Each `Item` says what is wrong, where, and what to do, read from the read models, the
scheduler's status row and the ingestion cursors (the same sources as /metrics and
/scheduler), so the panel and the API never disagree about what needs attention.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg import sql
from psycopg.errors import UndefinedTable

from api.controllers.audit import latest_audit_runs
from api.controllers.ops import scheduler_status
from api.reads import ReadModels
from app.webhook_delivery import ACTOR as DELIVERER

STALE_TICK = timedelta(seconds=60)  # a leading scheduler ticks every few seconds
LAGGING_BLOCKS = 50  # ingestion this far behind the head is worth a look
LIMIT = 50  # items per kind on the dashboard; the lists behind them page further


@dataclass(frozen=True, slots=True)
class Item:
    kind: str  # a stable slug (tests and CSS key on it)
    title: str
    detail: str
    action: str  # what to do, in the operator's words
    link: str | None = None


async def by_status(reads: ReadModels) -> dict[str, int]:
    rows = await reads.all(sql.SQL("SELECT status, count(*) AS n FROM {} GROUP BY 1").format(
        reads.table("distributions")))
    return {r["status"]: int(r["n"]) for r in rows}


async def items(reads: ReadModels, ingestion_lag: Any) -> list[Item]:
    found: list[Item] = []
    found += await _distributions(reads)
    found += await _blocked(reads)
    found += await _scheduler(reads)
    found += await _ingestion(reads, ingestion_lag)
    found += await _halted(reads)
    found += await _webhooks(reads)
    found += await _audits(reads)
    return found


async def _distributions(reads: ReadModels) -> list[Item]:
    rows = await reads.all(sql.SQL(
        "SELECT d.distribution_id, d.status, d.funds_needed, d.funds_available, d.failed_count,"
        " d.created_by, a.symbol, a.payment_decimals FROM {} d LEFT JOIN {} a USING (asset_id)"
        " WHERE d.status IN ('CREATED', 'WAITING_FOR_FUNDS')"
        " OR (d.failed_count > 0 AND d.status IN ('EXECUTING', 'COMPLETED_WITH_FAILURES'))"
        " ORDER BY d.updated_at DESC LIMIT %s").format(
        reads.table("distributions"), reads.table("assets")), (3 * LIMIT,))
    out: list[Item] = []
    for r in rows:
        link = f"/panel/distributions/{r['distribution_id']}"
        name = f"{r['symbol'] or 'distribution'} {str(r['distribution_id'])[:8]}"
        if r["status"] == "WAITING_FOR_FUNDS":
            out.append(Item("waiting-for-funds", f"{name} is waiting for funds",
                            f"needs {r['funds_needed'] or '?'}, the vault has"
                            f" {r['funds_available'] or '?'} for it (smallest units)",
                            "deposit the payment token into the vault; it resumes by itself",
                            link))
        elif r["status"] == "CREATED":
            out.append(Item("awaiting-approval", f"{name} awaits approval",
                            f"created by {r['created_by']}",
                            "an approver other than its maker approves or cancels it", link))
        else:
            out.append(Item("failed-holders", f"{name}: {r['failed_count']:,} holders failed",
                            "the payment token refused these transfers (see each reason)",
                            "resolve the cause, then retry them (or they claim)",
                            f"{link}#holders"))
    return out


async def _blocked(reads: ReadModels) -> list[Item]:
    rows = await reads.all(sql.SQL(
        "SELECT distribution_id, number, rejection FROM {} WHERE status = 'BLOCKED'"
        " ORDER BY updated_at DESC LIMIT %s").format(reads.table("batches")), (LIMIT,))
    return [Item("blocked-batch", f"batch {r['number']} of {str(r['distribution_id'])[:8]}"
                 " is blocked", r["rejection"] or "refused",
                 "fix the cause (unpause the vault, the node), then retry",
                 f"/panel/distributions/{r['distribution_id']}#batches") for r in rows]


async def _scheduler(reads: ReadModels) -> list[Item]:
    status = await scheduler_status(reads)
    out: list[Item] = []
    if status.last_tick_at is None or datetime.now(UTC) - status.last_tick_at > STALE_TICK:
        since = "has never ticked" if status.last_tick_at is None else \
            f"last ticked {status.last_tick_at:%Y-%m-%d %H:%M:%S} UTC"
        out.append(Item("scheduler-not-leading", "no scheduler is leading", since,
                        "start `mass-payout scheduler` (scheduled payouts wait until then)"))
    out += [Item("scheduler-failing", f"the scheduler cannot move {str(f.item)[:8]} forward",
                 f.error, "act on the error; it retries every tick") for f in status.failing]
    return out


async def _ingestion(reads: ReadModels, ingestion_lag: Any) -> list[Item]:
    out = [Item("ingestion-lag", f"ingestion is {blocks:,} blocks behind on {vault}",
                "the ingestor is behind or stopped", "restart `mass-payout ingest`")
           for vault, blocks in (await ingestion_lag()).items() if blocks > LAGGING_BLOCKS]
    with contextlib.suppress(UndefinedTable):
        out += [Item("unreadable-logs", f"{r['unreadable']:,} unreadable logs from"
                     f" {r['contract']}", "recorded on the ingestion cursor and skipped",
                     "read the cursor's LogUnreadable events for the reason")
                for r in await reads.all(sql.SQL(
                    "SELECT contract, unreadable FROM {} WHERE unreadable > 0").format(
                    reads.table("ingestion_cursors")))]
    return out


async def _halted(reads: ReadModels) -> list[Item]:
    """A reorg deeper than the confirmations stopped ingestion (the cursor's `Halted`)."""
    with contextlib.suppress(UndefinedTable):
        return [Item("ingestion-halted", f"ingestion halted on {r['contract']}",
                     r["halted"], "compare the chain with the cursor's block and decide: the"
                     " ingestor stays stopped until the chain agrees with it again")
                for r in await reads.all(sql.SQL(
                    "SELECT contract, halted FROM {} WHERE halted IS NOT NULL"
                    " ORDER BY contract LIMIT %s").format(reads.table("ingestion_cursors")),
                    (LIMIT,))]
    return []


async def _webhooks(reads: ReadModels) -> list[Item]:
    """Endpoints the deliverer disabled after a run of failures (`WebhookEndpoint.Disabled`
    by `webhooks`); an admin's own disabling needs nobody."""
    with contextlib.suppress(UndefinedTable):
        return [Item("webhook-disabled", f"webhook endpoint {r['url']} was disabled",
                     r["disabled_reason"], "fix the receiver, then enable the endpoint"
                     f" (POST /webhooks/{r['endpoint_id']}/enable); its events waited")
                for r in await reads.all(sql.SQL(
                    "SELECT endpoint_id, url, disabled_reason FROM {} WHERE NOT active"
                    " AND updated_by = %s ORDER BY updated_at DESC LIMIT %s").format(
                    reads.table("webhook_endpoints")), (DELIVERER, LIMIT))]
    return []


async def _audits(reads: ReadModels) -> list[Item]:
    """The latest scheduled `audit verify` (daily, or after a completion) found a
    distribution that does not reconcile: the ledger, the chain or the totals disagree."""
    return [Item("reconciliation-mismatch",
                 f"{r['mismatches']:,} of {r['distributions_checked']:,} distributions do not"
                 f" reconcile ({r['trigger']} audit {r['key']})",
                 "; ".join(r["differences"][:3]) or "see `mass-payout audit verify`",
                 "run `mass-payout audit verify` for every difference and find the cause"
                 " before paying more from that vault",
                 f"/panel/distributions/{r['mismatched'][0]}" if r["mismatched"] else None)
            for r in await latest_audit_runs(reads) if r["mismatches"]]
