"""The reports' queries over the read models, each with its stable column order.

One `Report` per report: its columns (the CSV header and the JSON keys, in this order, which
the README documents and clients may rely on) and its SQL, whose select list gives exactly
those columns in that order. Amounts are `text` (integers in the payment token's smallest
unit, too large for a JSON number); every report is read through a server-side cursor by
`api.controllers.reports`, so none is ever whole in memory.

Periods are half-open `[from, to)` on the distribution's record date: the date the
entitlement was fixed, which never changes, so a report for a closed period reads the same
tomorrow. Reclaimed and swept amounts are the distributions read model's (what the vault's
`Reclaimed` and `Swept` logs returned to the treasury).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from psycopg import sql

# Holder statuses of an amount that reached the holder: pushed by the vault, or claimed.
SETTLED = "('PAID', 'CLAIMED')"


@dataclass(frozen=True)
class Report:
    name: str
    columns: tuple[str, ...]
    text: str  # SQL with {d} {h} {a} {b} {w} for the read-model tables, %s parameters

    def query(self, table: Callable[[str], sql.Identifier], **where: str) -> sql.Composed:
        """The SQL with the tables named by `table(name)` (ReadModels.table) and optional
        extra conditions filled into `{holder}` / `{distribution}` (empty when absent)."""
        text = self.text.replace("{holder}", where.get("holder", "")).replace(
            "{distribution}", where.get("distribution", ""))
        return sql.SQL(text).format(  # built from this module's constants
            d=table("distributions"), h=table("distribution_holders"), a=table("assets"),
            b=table("batches"), w=table("withholding_rates"))


_RATE = "COALESCE(o.bps, w.bps)"
_RATES = (" LEFT JOIN {w} w ON w.distribution_id = d.distribution_id AND w.account = ''"
          " LEFT JOIN {w} o ON o.distribution_id = d.distribution_id AND o.account = h.account")

TAX = Report(
    "tax",
    ("account", "payment_token", "payment_decimals", "distribution_id", "asset_symbol", "kind",
     "record_date", "gross", "withholding_bps", "withheld", "net", "status", "tx_hash",
     "year_gross", "year_withheld", "year_net"),
    "SELECT h.account, a.payment_token, a.payment_decimals, d.distribution_id, a.symbol,"  # noqa: S608  # constants
    " d.kind, d.record_date, h.gross::text, " + _RATE + ", h.withheld::text, h.net::text,"
    " h.status, h.tx_hash, (sum(h.gross) OVER y)::text, (sum(h.withheld) OVER y)::text,"
    " (sum(h.net) OVER y)::text"
    " FROM {d} d JOIN {h} h ON h.distribution_id = d.distribution_id"
    " LEFT JOIN {a} a ON a.asset_id = d.asset_id" + _RATES +
    " WHERE d.record_date >= %s AND d.record_date < %s AND h.status IN " + SETTLED +
    "{holder}"
    " WINDOW y AS (PARTITION BY h.account, a.payment_token)"
    " ORDER BY h.account, a.payment_token, d.record_date, d.distribution_id")

WITHHELD = Report(
    "withheld",
    ("distribution_id", "asset_symbol", "kind", "record_date", "status", "payment_token",
     "payment_decimals", "default_withholding_bps", "holders_withheld", "withheld_settled",
     "withheld_unsettled", "withheld_total"),
    "SELECT d.distribution_id, a.symbol, d.kind, d.record_date, d.status, a.payment_token,"  # noqa: S608  # constants
    " a.payment_decimals, w.bps, COALESCE(x.holders, 0), COALESCE(x.settled, 0)::text,"
    " COALESCE(x.unsettled, 0)::text, COALESCE(d.withheld, 0)::text"
    " FROM {d} d LEFT JOIN {a} a ON a.asset_id = d.asset_id"
    " LEFT JOIN {w} w ON w.distribution_id = d.distribution_id AND w.account = ''"
    " LEFT JOIN LATERAL (SELECT count(*) FILTER (WHERE h.withheld > 0 AND h.status IN "
    + SETTLED + ") AS holders,"
    " sum(h.withheld) FILTER (WHERE h.status IN " + SETTLED + ") AS settled,"
    " sum(h.withheld) FILTER (WHERE h.status NOT IN " + SETTLED + ") AS unsettled"
    " FROM {h} h WHERE h.distribution_id = d.distribution_id) x ON true"
    " WHERE d.record_date >= %s AND d.record_date < %s AND d.status <> 'CANCELLED'"
    " ORDER BY d.record_date, d.distribution_id")

WITHHELD_HOLDERS = Report(
    "withheld-holders",
    ("position", "account", "gross", "withholding_bps", "withheld", "net", "status",
     "tx_hash"),
    "SELECT h.position, h.account, h.gross::text, " + _RATE + ", h.withheld::text,"  # noqa: S608  # constants
    " h.net::text, h.status, h.tx_hash"
    " FROM {d} d JOIN {h} h ON h.distribution_id = d.distribution_id" + _RATES +
    " WHERE d.distribution_id = %s AND h.status <> 'SKIPPED' ORDER BY h.position")

ISSUER = Report(
    "issuer",
    ("distribution_id", "asset_id", "asset_symbol", "kind", "concept", "record_date", "status",
     "payment_token", "payment_decimals", "holders", "gross", "net", "withheld", "dust",
     "skipped_amount", "paid_count", "amount_paid", "failed_count", "failed_amount",
     "claimed_count", "claimed_amount", "reclaimed", "gas_used", "created_at",
     "finished_at", "swept"),
    "SELECT d.distribution_id, d.asset_id, a.symbol, d.kind, d.concept, d.record_date,"  # constants
    " d.status, a.payment_token, a.payment_decimals, d.holders, d.gross::text, d.net::text,"
    " d.withheld::text, d.dust::text, d.skipped_amount::text, d.paid_count,"
    " d.amount_paid::text, COALESCE(x.failed, 0), COALESCE(x.failed_amount, 0)::text,"
    " COALESCE(x.claimed, 0), COALESCE(x.claimed_amount, 0)::text, d.reclaimed::text,"
    " COALESCE(g.gas_used, 0), d.created_at, d.finished_at, d.swept::text"
    " FROM {d} d LEFT JOIN {a} a ON a.asset_id = d.asset_id"
    " LEFT JOIN LATERAL (SELECT count(*) FILTER (WHERE h.status = 'FAILED') AS failed,"
    " sum(h.net) FILTER (WHERE h.status = 'FAILED') AS failed_amount,"
    " count(*) FILTER (WHERE h.status = 'CLAIMED') AS claimed,"
    " sum(h.net) FILTER (WHERE h.status = 'CLAIMED') AS claimed_amount"
    " FROM {h} h WHERE h.distribution_id = d.distribution_id) x ON true"
    " LEFT JOIN LATERAL (SELECT sum(b.gas_used) AS gas_used FROM {b} b"
    " WHERE b.distribution_id = d.distribution_id) g ON true"
    " WHERE d.record_date >= %s AND d.record_date < %s"
    " ORDER BY d.record_date, d.distribution_id")

UNCLAIMED = Report(
    "unclaimed",
    ("distribution_id", "asset_symbol", "payment_token", "payment_decimals", "position",
     "account", "net", "failure_reason", "attempts", "claim_deadline", "deadline_passed"),
    "SELECT d.distribution_id, a.symbol, a.payment_token, a.payment_decimals, h.position,"
    " h.account, h.net::text, h.failure_reason, h.attempts, d.claim_deadline,"
    " COALESCE(d.claim_deadline <= now(), false)"
    " FROM {d} d JOIN {h} h ON h.distribution_id = d.distribution_id"
    " LEFT JOIN {a} a ON a.asset_id = d.asset_id"
    " WHERE d.failed_count > 0 AND h.status = 'FAILED'{distribution}"
    " ORDER BY d.claim_deadline NULLS LAST, d.distribution_id, h.position")

STATEMENT_TOTALS = Report(
    "statement-totals",
    ("account", "payment_token", "payment_decimals", "distributions", "gross", "withheld",
     "net", "settled_net", "unsettled_net"),
    "SELECT h.account, a.payment_token, a.payment_decimals, count(*),"  # noqa: S608
    " sum(h.gross)::text, sum(h.withheld)::text, sum(h.net)::text,"
    " COALESCE(sum(h.net) FILTER (WHERE h.status IN " + SETTLED + "), 0)::text,"
    " COALESCE(sum(h.net) FILTER (WHERE h.status NOT IN " + SETTLED + "), 0)::text"
    " FROM {h} h JOIN {d} d ON d.distribution_id = h.distribution_id"
    " LEFT JOIN {a} a ON a.asset_id = d.asset_id"
    " WHERE h.account = %s AND h.status <> 'SKIPPED'"
    " AND d.record_date >= %s AND d.record_date < %s"
    " GROUP BY h.account, a.payment_token, a.payment_decimals ORDER BY a.payment_token")
