"""Reporting: a holder's statement across distributions, and a distribution's CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

from litestar import Controller, Request, get
from litestar.params import FromPath
from litestar.response import Stream
from psycopg import sql

from api import rows, schemas
from api.keys import READ
from api.params import AccountPath, Cursor, Limit, Wait
from api.problems import Problem
from api.reads import ReadModels
from domain import accounts

CSV_COLUMNS = ("position", "account", "balance", "gross", "withheld", "net", "leaf_index",
               "batch_number", "status", "skip_reason", "tx_hash", "failure_reason", "attempts")


class ReportController(Controller):
    tags = ["reporting"]  # noqa: RUF012  # Litestar declares it a list

    @get("/accounts/{account:str}/payments", opt={"roles": READ, "problems": (422,)},
         operation_id="accountPayments")
    async def payments(self, request: Request[Any, Any, Any], account: AccountPath,
                       cursor: Cursor = None, limit: Limit = 100,
                       wait_for_position: Wait = 0) -> schemas.PaymentPage:
        """A holder's statement: every distribution that entitled the account, newest first."""
        reads = request.app.state.reads
        await reads.wait_for(wait_for_position, "distribution_holders", "distributions")
        canonical = accounts.canonical(account)
        after = rows.decode_cursor(cursor, 2)
        try:
            found = await reads.all(sql.SQL(
                "SELECT h.*, d.asset_id, d.kind, d.record_date, d.status AS d_status,"
                " d.created_at FROM {h} h JOIN {d} d USING (distribution_id)"
                " WHERE h.account = %s AND (%s::timestamptz IS NULL"
                " OR (d.created_at, d.distribution_id) < (%s::timestamptz, %s::uuid))"
                " ORDER BY d.created_at DESC, d.distribution_id DESC LIMIT %s").format(
                h=reads.table("distribution_holders"), d=reads.table("distributions")),
                (canonical, after and after[0], after and after[0], after and after[1],
                 limit + 1))
        except ValueError as err:
            raise Problem(400, "bad-cursor", "the cursor is not one this API issued") from err
        items = [schemas.Payment(
            r["distribution_id"], r["asset_id"], r["kind"], r["record_date"], r["d_status"],
            str(r["gross"]), str(r["withheld"]), str(r["net"]), r["status"], r["skip_reason"],
            r["tx_hash"], r["failure_reason"]) for r in found[:limit]]
        last = found[limit - 1] if len(found) > limit else None
        return schemas.PaymentPage(canonical, items, rows.encode_cursor(
            last["created_at"].isoformat(), last["distribution_id"]) if last else None)

    @get("/distributions/{distribution_id:uuid}/report.csv", opt={"roles": READ},
         operation_id="distributionReport", media_type="text/csv")
    async def report(self, request: Request[Any, Any, Any],
                     distribution_id: FromPath[UUID]) -> Stream:
        """Every holder of the distribution, amounts in smallest units."""
        return await report_stream(request.app.state.reads, distribution_id)


async def report_stream(reads: ReadModels, distribution_id: UUID) -> Stream:
    """A distribution's CSV report, streamed (the API's and the panel's download)."""
    if await reads.one(sql.SQL("SELECT 1 FROM {} WHERE distribution_id = %s").format(
            reads.table("distributions")), (distribution_id,)) is None:
        raise Problem(404, "not-found", f"no distribution {distribution_id}")
    query = sql.SQL("SELECT {} FROM {} WHERE distribution_id = %s ORDER BY position").format(
        sql.SQL(", ").join(map(sql.Identifier, CSV_COLUMNS)),
        reads.table("distribution_holders"))

    async def lines() -> AsyncIterator[str]:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(CSV_COLUMNS)
        async with reads.pool.connection() as conn, conn.transaction(), \
                conn.cursor(name="report") as cur:
            await cur.execute(query, (distribution_id,))
            while chunk := await cur.fetchmany(5_000):
                writer.writerows(tuple(r.values()) for r in chunk)
                yield out.getvalue()
                out.seek(0)
                out.truncate()
        yield out.getvalue()

    return Stream(lines(), media_type="text/csv", headers={
        "Content-Disposition": f'attachment; filename="distribution-{distribution_id}.csv"'})
