"""Reporting: a distribution's CSV, and the tax, withheld-tax, issuer and unclaimed reports
(a holder's statement is `api.controllers.holders`).

Every report streams: rows come through a server-side cursor a few thousand at a time and go
out as they come (CSV, or a JSON object whose `items` array is written row by row), so a
100,000-holder distribution is never whole in memory. Each report's columns and their order
are `projections.reports_queries`' and the README's; amounts are integers in smallest units
(strings in JSON). Tax, issuer and unclaimed reports are for auditors, admins and operators.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Controller, Request, get
from litestar.params import FromPath, PathParameter, QueryParameter
from litestar.response import Stream
from psycopg import sql
from psycopg.rows import tuple_row

from api.keys import READ, REPORT
from api.params import DATE_TIME, AccountPath, moment
from api.problems import Problem
from api.reads import ReadModels
from domain import accounts
from domain.accounts import ACCOUNT_PATTERN
from projections import reports_queries as q

CSV_COLUMNS = ("position", "account", "balance", "gross", "withheld", "net", "leaf_index",
               "batch_number", "status", "skip_reason", "tx_hash", "failure_reason", "attempts")
CHUNK = 5_000  # rows per fetch from the server-side cursor, and per chunk sent
FOREVER = (datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC))

Year = Annotated[int, PathParameter(
    ge=1, le=9999, description="the year of the record dates (UTC), e.g. 2026")]
Holder = Annotated[str | None, QueryParameter(
    pattern=ACCOUNT_PATTERN, description="only this account (EVM address or Hedera id; a"
    " wrong EIP-55 checksum is a 422)")]
From = Annotated[str | None, QueryParameter(
    name="from", pattern=DATE_TIME,
    schema_extra={"format": "date-time"},
    description="record dates from this RFC 3339 date-time on (inclusive)")]
To = Annotated[str | None, QueryParameter(
    name="to", pattern=DATE_TIME,
    schema_extra={"format": "date-time"},
    description="record dates before this RFC 3339 date-time (exclusive)")]
DistributionQuery = Annotated[UUID | None, QueryParameter(
    description="only this distribution")]


class ReportController(Controller):
    tags = ["reporting"]  # noqa: RUF012  # Litestar declares it a list

    @get("/distributions/{distribution_id:uuid}/report.csv", opt={"roles": READ},
         operation_id="distributionReport", media_type="text/csv")
    async def report(self, request: Request[Any, Any, Any],
                     distribution_id: FromPath[UUID]) -> Stream:
        """Every holder of the distribution, amounts in smallest units."""
        return await report_stream(request.app.state.reads, distribution_id)

    @get("/reports/tax/{year:int}", opt={"roles": REPORT, "problems": (422,)},
         operation_id="taxReport", media_type="application/json")
    async def tax(self, request: Request[Any, Any, Any], year: Year,
                  holder: Holder = None) -> Stream:
        """Per holder and payment token, each payment settled (paid or claimed) by the
        distributions whose record date falls in `year`: gross, the withholding rate
        applied (bps), withheld, net, and the holder's totals for the year. Ordered by
        account, payment token, record date."""
        return _tax(request.app.state.reads, year, holder, as_csv=False)

    @get("/reports/tax/{year:int}/report.csv", opt={"roles": REPORT, "problems": (422,)},
         operation_id="taxReportCsv", media_type="text/csv")
    async def tax_csv(self, request: Request[Any, Any, Any], year: Year,
                      holder: Holder = None) -> Stream:
        """taxReport as CSV."""
        return _tax(request.app.state.reads, year, holder, as_csv=True)

    @get("/reports/withheld", opt={"roles": REPORT}, operation_id="withheldTaxReport",
         media_type="application/json")
    async def withheld(self, request: Request[Any, Any, Any], from_: From = None,
                       to: To = None) -> Stream:
        """For the tax authority: per distribution (record date in [from, to)), the default
        rate, how many holders had tax withheld, and the tax withheld on settled payments,
        on payments not settled yet, and in all."""
        return _stream(request.app.state.reads, q.WITHHELD, _period(from_, to), False,
                       "withheld")

    @get("/reports/withheld.csv", opt={"roles": REPORT}, operation_id="withheldTaxReportCsv",
         media_type="text/csv")
    async def withheld_csv(self, request: Request[Any, Any, Any], from_: From = None,
                           to: To = None) -> Stream:
        """withheldTaxReport as CSV."""
        return _stream(request.app.state.reads, q.WITHHELD, _period(from_, to), True,
                       "withheld")

    @get("/reports/withheld/{distribution_id:uuid}", opt={"roles": REPORT},
         operation_id="withheldTaxByHolder", media_type="application/json")
    async def withheld_holders(self, request: Request[Any, Any, Any],
                               distribution_id: FromPath[UUID]) -> Stream:
        """For the tax authority: each entitled holder of the distribution with gross, the
        rate applied (bps), withheld, net and status, in leaf order."""
        return await _withheld_holders(request.app.state.reads, distribution_id, as_csv=False)

    @get("/reports/withheld/{distribution_id:uuid}/holders.csv", opt={"roles": REPORT},
         operation_id="withheldTaxByHolderCsv", media_type="text/csv")
    async def withheld_holders_csv(self, request: Request[Any, Any, Any],
                                   distribution_id: FromPath[UUID]) -> Stream:
        """withheldTaxByHolder as CSV."""
        return await _withheld_holders(request.app.state.reads, distribution_id, as_csv=True)

    @get("/reports/issuer", opt={"roles": REPORT}, operation_id="issuerReport",
         media_type="application/json")
    async def issuer(self, request: Request[Any, Any, Any], from_: From = None,
                     to: To = None) -> Stream:
        """Every distribution whose record date is in [from, to): its state, gross, net,
        withheld, dust, skipped, paid, failed, claimed, reclaimed, and the gas its batches
        used."""
        return _stream(request.app.state.reads, q.ISSUER, _period(from_, to), False,
                       "issuer")

    @get("/reports/issuer.csv", opt={"roles": REPORT}, operation_id="issuerReportCsv",
         media_type="text/csv")
    async def issuer_csv(self, request: Request[Any, Any, Any], from_: From = None,
                         to: To = None) -> Stream:
        """issuerReport as CSV."""
        return _stream(request.app.state.reads, q.ISSUER, _period(from_, to), True, "issuer")

    @get("/reports/statements/{account:str}", opt={"roles": REPORT, "problems": (422,)},
         operation_id="statementTotals", media_type="application/json")
    async def statement_totals(self, request: Request[Any, Any, Any], account: AccountPath,
                               from_: From = None, to: To = None) -> Stream:
        """A holder's statement totals over a period (record dates in [from, to)), per
        payment token: distributions, gross, withheld, net, and net settled (paid or
        claimed) and not. The rows behind it: /holders/{account}/payments[.csv]."""
        return _statement_totals(request.app.state.reads, account, from_, to, as_csv=False)

    @get("/reports/statements/{account:str}/totals.csv",
         opt={"roles": REPORT, "problems": (422,)}, operation_id="statementTotalsCsv",
         media_type="text/csv")
    async def statement_totals_csv(self, request: Request[Any, Any, Any],
                                   account: AccountPath, from_: From = None,
                                   to: To = None) -> Stream:
        """statementTotals as CSV."""
        return _statement_totals(request.app.state.reads, account, from_, to, as_csv=True)

    @get("/reports/unclaimed", opt={"roles": REPORT}, operation_id="unclaimedReport",
         media_type="application/json")
    async def unclaimed(self, request: Request[Any, Any, Any],
                        distribution: DistributionQuery = None) -> Stream:
        """Holders whose payment failed and who have not claimed it, with the claim deadline
        (and whether it passed), soonest deadline first."""
        return _unclaimed(request.app.state.reads, distribution, False)

    @get("/reports/unclaimed.csv", opt={"roles": REPORT}, operation_id="unclaimedReportCsv",
         media_type="text/csv")
    async def unclaimed_csv(self, request: Request[Any, Any, Any],
                            distribution: DistributionQuery = None) -> Stream:
        """unclaimedReport as CSV."""
        return _unclaimed(request.app.state.reads, distribution, True)


def _tax(reads: ReadModels, year: int, holder: str | None, *, as_csv: bool) -> Stream:
    params: list[Any] = year_period(year)
    if holder is None:
        return _stream(reads, q.TAX, params, as_csv, f"tax-{year}")
    params.append(accounts.canonical(holder))  # a wrong checksum: 422 before the stream
    return _stream(reads, q.TAX, params, as_csv, f"tax-{year}", holder=" AND h.account = %s")


async def _withheld_holders(reads: ReadModels, distribution_id: UUID, *,
                            as_csv: bool) -> Stream:
    await _known(reads, distribution_id)  # an unknown distribution: 404 before the stream
    return _stream(reads, q.WITHHELD_HOLDERS, [distribution_id], as_csv,
                   f"withheld-{distribution_id}")


def _statement_totals(reads: ReadModels, account: str, start: str | None, end: str | None,
                      *, as_csv: bool) -> Stream:
    canonical = accounts.canonical(account)  # a wrong checksum: 422 before the stream
    return _stream(reads, q.STATEMENT_TOTALS, [canonical, *_period(start, end)], as_csv,
                   f"statement-totals-{canonical}")


def _period(start: str | None, end: str | None) -> list[datetime]:
    return [moment(start, "from") or FOREVER[0], moment(end, "to") or FOREVER[1]]


def _unclaimed(reads: ReadModels, distribution: UUID | None, as_csv: bool) -> Stream:
    if distribution is None:
        return _stream(reads, q.UNCLAIMED, [], as_csv, "unclaimed")
    return _stream(reads, q.UNCLAIMED, [distribution], as_csv, "unclaimed",
                   distribution=" AND d.distribution_id = %s")


async def _known(reads: ReadModels, distribution_id: UUID) -> None:
    if await reads.one(sql.SQL("SELECT 1 FROM {} WHERE distribution_id = %s").format(
            reads.table("distributions")), (distribution_id,)) is None:
        raise Problem(404, "not-found", f"no distribution {distribution_id}")


def report_csv(reads: ReadModels, report: q.Report, params: Sequence[Any], filename: str,
               **where: str) -> Stream:
    """A report as a CSV download (the panel's door to the same file)."""
    return _stream(reads, report, params, True, filename, **where)


def year_period(year: int) -> list[datetime]:
    """`[Jan 1 of year, Jan 1 of the next)` in UTC (the last representable year: to its end)."""
    start = datetime(year, 1, 1, tzinfo=UTC)
    return [start, datetime(year + 1, 1, 1, tzinfo=UTC) if year < 9999 else FOREVER[1]]


def _stream(reads: ReadModels, report: q.Report, params: Sequence[Any], as_csv: bool,
            filename: str, **where: str) -> Stream:
    rows = report_rows(reads, report, params, **where)
    if as_csv:
        return Stream(csv_chunks(report.columns, rows), media_type="text/csv", headers={
            "Content-Disposition": f'attachment; filename="{filename}.csv"'})
    return Stream(json_chunks(report.columns, rows), media_type="application/json")


async def report_rows(reads: ReadModels, report: q.Report, params: Sequence[Any],
                      **where: str) -> AsyncIterator[Sequence[tuple[Any, ...]]]:
    """The report's rows, a chunk at a time, through a server-side cursor."""
    query = report.query(reads.table, **where)
    async with reads.pool.connection() as conn, conn.transaction(), \
            conn.cursor(name=f"report_{report.name}", row_factory=tuple_row) as cur:
        await cur.execute(query, params)
        while chunk := await cur.fetchmany(CHUNK):
            yield chunk


def _cell(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


async def csv_chunks(columns: Sequence[str], chunks: AsyncIterator[Sequence[tuple[Any, ...]]]
                     ) -> AsyncIterator[str]:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    async for chunk in chunks:
        writer.writerows([_cell(v) for v in row] for row in chunk)
        yield out.getvalue()
        out.seek(0)
        out.truncate()
    yield out.getvalue()


async def json_chunks(columns: Sequence[str], chunks: AsyncIterator[Sequence[tuple[Any, ...]]]
                      ) -> AsyncIterator[bytes]:
    """`{"columns": [...], "items": [{column: value, ...}, ...]}`, written as it is read."""
    encode = msgspec.json.encode
    yield b'{"columns":' + encode(list(columns)) + b',"items":['
    first = True
    async for chunk in chunks:
        body = b",".join(encode(dict(zip(columns, row, strict=True))) for row in chunk)
        yield body if first else b"," + body
        first = False
    yield b"]}"


async def report_stream(reads: ReadModels, distribution_id: UUID) -> Stream:
    """A distribution's CSV report, streamed (the API's and the panel's download)."""
    await _known(reads, distribution_id)
    query = sql.SQL("SELECT {} FROM {} WHERE distribution_id = %s ORDER BY position").format(
        sql.SQL(", ").join(map(sql.Identifier, CSV_COLUMNS)),
        reads.table("distribution_holders"))
    rows = _plain_rows(reads, query, distribution_id)
    return Stream(csv_chunks(CSV_COLUMNS, rows), media_type="text/csv", headers={
        "Content-Disposition": f'attachment; filename="distribution-{distribution_id}.csv"'})


async def _plain_rows(reads: ReadModels, query: sql.Composed, distribution_id: UUID
                      ) -> AsyncIterator[Sequence[tuple[Any, ...]]]:
    async with reads.pool.connection() as conn, conn.transaction(), \
            conn.cursor(name="report", row_factory=tuple_row) as cur:
        await cur.execute(query, (distribution_id,))
        while chunk := await cur.fetchmany(CHUNK):
            yield chunk
