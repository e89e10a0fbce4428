"""The API's read-model queries, public so the admin panel calls the very ones the routes do
(no SQL of the panel's own for what the API already answers).

Each renders the encoded body that `ReadModels.cached` keeps until the read model's next
commit. Rows come as tuples in the Structs' field order (api.rows) where the page is hot, so
a page costs one query and one Struct per row.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import msgspec
from psycopg import sql
from psycopg.errors import UndefinedTable

from api import rows, schemas
from api.problems import Problem
from api.reads import ReadModels, Row

SCHEDULES = "schedules"  # the schedules read model

# --- distributions ---

_encode = msgspec.json.Encoder().encode
# Filters of listDistributions, in the order list_ passes them, then the keyset cursor's.
_FILTERS = ("asset_id = %s", "status = %s", "kind = %s", "created_at >= %s",
            "created_at < %s", "(created_at, distribution_id) < (%s, %s)")


@functools.cache
def _list_query(views: str, present: tuple[bool, ...]) -> str:
    where = " AND ".join(f for f, on in zip(_FILTERS, present, strict=True) if on) or "true"
    return sql.SQL("SELECT " + rows.DISTRIBUTION_COLUMNS + " FROM {} WHERE "  # noqa: S608
                   + where + " ORDER BY created_at DESC, distribution_id DESC LIMIT %s"
                   ).format(sql.Identifier(views, "distributions")).as_string(None)


async def distribution_page(reads: ReadModels, filters: tuple[Any, ...], cursor: str | None,
                             limit: int) -> bytes:
    after = rows.decode_cursor(cursor, 2)
    try:
        keyset = (datetime.fromisoformat(after[0]), UUID(after[1])) if after else ()
    except ValueError:
        raise Problem(400, "bad-cursor", "the cursor is not one this API issued") from None
    present = (*(f is not None for f in filters), bool(keyset))
    found = await reads.tuples(_list_query(reads.views, present),
                               [*(f for f in filters if f is not None), *keyset, limit + 1])
    more = len(found) > limit
    return _encode(schemas.DistributionPage(
        [rows.distribution(r) for r in found[:limit]],
        rows.distribution_cursor(found[limit - 1]) if more else None))


async def distribution_body(reads: ReadModels, distribution_id: UUID) -> bytes | None:
    found = await reads.tuples(sql.SQL(
        "SELECT " + rows.DISTRIBUTION_COLUMNS + " FROM {} WHERE distribution_id = %s"  # noqa: S608
    ).format(reads.table("distributions")), (distribution_id,))
    return _encode(rows.distribution(found[0])) if found else None


async def batch_page(reads: ReadModels, distribution_id: UUID, after: int,
                      limit: int) -> bytes:
    found = await reads.tuples(sql.SQL(
        "SELECT " + rows.BATCH_COLUMNS + " FROM {} WHERE distribution_id = %s"  # noqa: S608
        " AND number > %s ORDER BY number LIMIT %s").format(reads.table("batches")),
        (distribution_id, after, limit + 1))
    items = [rows.batch(r) for r in found[:limit]]
    more = len(found) > limit
    return _encode(schemas.BatchPage(items, rows.encode_cursor(items[-1].number) if more
                                     else None))


# --- schedules (a read model the projector has not created yet is one at position 0:
# nothing to show, never a 500) ---

_SUMMARY = ("schedule_id", "asset_id", "key", "status", "kind", "missed_policy",
            "misfire_grace_seconds", "concept", "created_by", "approved_by", "paused_reason",
            "next_number", "spawned", "missed")
_DETAIL = (
    "SELECT s.*, (SELECT coalesce(json_agg(json_build_object('number', o.number,"
    " 'distribution_id', o.distribution_id) ORDER BY o.number), '[]') FROM {occurrences} o"
    " WHERE o.schedule_id = s.schedule_id AND o.distribution_id IS NOT NULL) AS occurrences,"
    " ARRAY(SELECT o.number FROM {occurrences} o WHERE o.schedule_id = s.schedule_id"
    " AND o.distribution_id IS NULL ORDER BY o.number) AS missed_numbers"
    " FROM {schedules} s WHERE s.schedule_id = %s")


def _utc(moment: datetime | None) -> datetime | None:
    """As the ledger holds it: PostgreSQL answers in the session's time zone."""
    return moment.astimezone(UTC) if moment is not None else None


def _summary(row: Row) -> dict[str, Any]:
    """A schedules row as the fields of app.schedules.Schedule."""
    return {**{name: row[name] for name in _SUMMARY},
            "rule": {"kind": row["rule_kind"], "value": row["rule_value"]},
            "cadence": {"recurrence": row["recurrence"], "start": _utc(row["cadence_start"]),
                        "end": _utc(row["cadence_end"]), "count": row["cadence_count"],
                        "trigger": row["trigger"]}}


async def schedule_page(reads: ReadModels, asset_id: UUID | None, after: int,
                         limit: int) -> bytes:
    by_asset = [] if asset_id is None else [asset_id]
    where = "created_position > %s" + (" AND asset_id = %s" if by_asset else "")
    query = sql.SQL("SELECT * FROM {} WHERE " + where  # noqa: S608
                    + " ORDER BY created_position LIMIT %s").format(reads.table(SCHEDULES))
    try:
        found = await reads.all(query, [after, *by_asset, limit + 1])
    except UndefinedTable:
        found = []
    more = len(found) > limit
    items = [msgspec.convert(_summary(r), schemas.Schedule) for r in found[:limit]]
    return _encode(schemas.SchedulePage(
        items, rows.encode_cursor(found[limit - 1]["created_position"]) if more else None))


async def schedule_body(reads: ReadModels, schedule_id: UUID) -> bytes | None:
    query = sql.SQL(_DETAIL).format(schedules=reads.table(SCHEDULES),
                                    occurrences=reads.table("schedule_occurrences"))
    try:
        row = await reads.one(query, (schedule_id,))
    except UndefinedTable:
        row = None
    if row is None:
        return None
    return _encode(msgspec.convert({**_summary(row), "occurrences": row["occurrences"],
                                    "missed_numbers": row["missed_numbers"]},
                                   schemas.ScheduleDetail))


# --- asset holders ---

async def asset_holder_page(reads: ReadModels, asset_id: UUID, cursor: str | None,
                            limit: int, view: schemas.HolderView = "snapshot",
                            ) -> schemas.AssetHolderPage:
    """The asset's holders by account (keyset on the account): the balances of its latest
    snapshot, or (`live`) its holders now, from the token's ingested transfers."""
    after = rows.decode_cursor(cursor, 1)
    start = after[0] if after else ""
    if view == "live":
        found = await reads.all(sql.SQL(
            "SELECT * FROM {} WHERE asset_id = %s AND balance > 0 AND account > %s"
            " ORDER BY account LIMIT %s").format(reads.table("live_holders")),
            (asset_id, start, limit + 1))
        items = [schemas.AssetHolder(r["account"], str(r["balance"]), None, r["last_seen_at"],
                                     r["first_seen_at"], r["last_tx_hash"])
                 for r in found[:limit]]
    else:
        found = await reads.all(sql.SQL(
            "SELECT * FROM {} WHERE asset_id = %s AND account > %s ORDER BY account LIMIT %s"
        ).format(reads.table("asset_holders")), (asset_id, start, limit + 1))
        items = [schemas.AssetHolder(r["account"], str(r["balance"]), r["distribution_id"],
                                     r["updated_at"]) for r in found[:limit]]
    more = len(found) > limit
    return schemas.AssetHolderPage(
        items, rows.encode_cursor(found[limit - 1]["account"]) if more else None, view)


# --- sweep accounts ---

async def sweep_account_rows(reads: ReadModels, asset_id: UUID) -> list[Row]:
    """The asset's configured sweep accounts, the tax authority's first: destination,
    account, set_by, set_at, reason (the API's and the panel's). A 503 problem while the
    projector has not created the read model yet (its first start after an upgrade)."""
    try:
        return await reads.all(sql.SQL(
            "SELECT destination, account, set_by, set_at, reason FROM {} WHERE asset_id = %s"
            " ORDER BY destination DESC").format(reads.table("sweep_accounts")), (asset_id,))
    except UndefinedTable:
        raise Problem(503, "projection-lag", "the sweep_accounts read model is not built yet:"
                      " the projector creates it when it starts") from None
