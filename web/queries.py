"""Read-model queries the panel needs and the API has no function for (SQL nowhere else in
the panel). Each says which API query it follows."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from psycopg import sql

from api import rows, schemas
from api.reads import ReadModels


async def assets(reads: ReadModels) -> dict[UUID, dict[str, Any]]:
    """Every asset by id (listAssets' rows, unpaged: a panel's filter and units)."""
    async def load() -> dict[UUID, dict[str, Any]]:
        found = await reads.all(sql.SQL("SELECT * FROM {} ORDER BY symbol, asset_id").format(
            reads.table("assets")))
        return {r["asset_id"]: dict(r) for r in found}
    result: dict[UUID, dict[str, Any]] = await reads.cached("assets", ("panel-all",), load)
    return result


async def holder_page(reads: ReadModels, distribution_id: UUID, *, status: str | None,
                      account: str | None, cursor: str | None,
                      limit: int) -> schemas.HolderPage:
    """listHolders' query (keyset on the primary key (distribution_id, position), so page
    1,000 of 100k holders costs what page 1 does), plus an exact account (its index)."""
    found = await reads.all(sql.SQL(
        "SELECT * FROM {} WHERE distribution_id = %s AND position > %s"
        " AND (%s::text IS NULL OR status = %s) AND (%s::text IS NULL OR account = %s)"
        " ORDER BY position LIMIT %s").format(reads.table("distribution_holders")),
        (distribution_id, rows.decode_position(cursor), status, status, account, account,
         limit + 1))
    more = len(found) > limit
    return schemas.HolderPage([rows.holder(r) for r in found[:limit]],
                              rows.encode_cursor(found[limit - 1]["position"]) if more
                              else None)


async def failed_amount(reads: ReadModels, distribution_id: UUID) -> int:
    """The net owed to holders whose payment failed (the distribution's row counts them but
    does not sum them)."""
    async def load() -> int:
        row = await reads.one(sql.SQL(
            "SELECT coalesce(sum(net), 0)::text AS total FROM {}"
            " WHERE distribution_id = %s AND status = 'FAILED'").format(
            reads.table("distribution_holders")), (distribution_id,))
        return int(row["total"]) if row else 0
    # cached until the holders' read model commits again: a live page refetches often
    total: int = await reads.cached("distribution_holders", ("panel-failed", distribution_id),
                                    load)
    return total
