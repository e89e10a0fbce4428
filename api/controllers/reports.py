"""Reporting: a distribution's CSV (a holder's statement is `api.controllers.holders`)."""

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

from api.keys import READ
from api.problems import Problem
from api.reads import ReadModels

CSV_COLUMNS = ("position", "account", "balance", "gross", "withheld", "net", "leaf_index",
               "batch_number", "status", "skip_reason", "tx_hash", "failure_reason", "attempts")


class ReportController(Controller):
    tags = ["reporting"]  # noqa: RUF012  # Litestar declares it a list

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
