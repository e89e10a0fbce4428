"""A holder's statement: every payment to one account across distributions, paged, and the
same rows as CSV.

The queries are the API's (`api.controllers.holders.statement_page`); the CSV is the API's
`statement_csv`, the one its holderStatementCsv route answers, so both doors stream the same
file.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from litestar import Controller, Request, get
from litestar.exceptions import NotFoundException
from litestar.params import FromQuery, QueryParameter
from litestar.response import Stream, Template

from api.controllers.holders import statement_csv, statement_page
from api.controllers.reports import FOREVER, report_csv, year_period
from api.keys import REPORT
from api.reads import ReadModels
from domain import accounts
from domain.errors import InvalidAccount
from projections import reports_queries as q
from web.render import page

PAGE = 50
Year = Annotated[int, QueryParameter(ge=1, le=9999)]
VIEWS = ("distribution_holders", "distributions", "assets")


class StatementPanel(Controller):
    path = "/"
    include_in_schema = False

    @get("/statements")
    async def statement(self, request: Request[Any, Any, Any], account: FromQuery[str] = "",
                        cursor: FromQuery[str | None] = None) -> Template:
        return await _render(request, "statement.html", account, cursor)

    @get("/statements/fragments/table")
    async def table(self, request: Request[Any, Any, Any], account: FromQuery[str] = "",
                    cursor: FromQuery[str | None] = None) -> Template:
        return await _render(request, "_statement_table.html", account, cursor)

    @get("/statements.csv")
    async def csv(self, request: Request[Any, Any, Any], account: FromQuery[str]) -> Stream:
        """The API's CSV (InvalidAccount: a clear 422 before any row is sent)."""
        return statement_csv(request.app.state.reads, account.strip())


    # The reports, as the API's CSV files (auditors, admins and operators), linked from the
    # statement page: the tax report of a year, and the issuer's, withheld-tax and unclaimed
    # reports over every distribution.
    @get("/reports/tax.csv", opt={"panel_roles": REPORT})
    async def tax_csv(self, request: Request[Any, Any, Any], year: Year) -> Stream:
        return report_csv(request.app.state.reads, q.TAX, year_period(year), f"tax-{year}")

    @get("/reports/{name:str}", opt={"panel_roles": REPORT})
    async def every_distribution_csv(self, request: Request[Any, Any, Any], name: str
                                     ) -> Stream:
        report = _EVERY_DISTRIBUTION.get(name)
        if report is None:
            raise NotFoundException(f"no report {name!r}")
        params = [] if report is q.UNCLAIMED else list(FOREVER)
        return report_csv(request.app.state.reads, report, params, name.removesuffix(".csv"))


_EVERY_DISTRIBUTION = {"issuer.csv": q.ISSUER, "withheld.csv": q.WITHHELD,
                       "unclaimed.csv": q.UNCLAIMED}


def this_year() -> int:
    return datetime.now(UTC).year


async def _render(request: Request[Any, Any, Any], name: str, account: str,
                  cursor: str | None) -> Template:
    account = account.strip()
    context: dict[str, Any] = {"account": account, "canonical": None, "statement": None,
                               "cursor": cursor, "error": None, "year": this_year()}
    if not account:
        return page(request, name, **context)
    try:
        accounts.canonical(account)
    except InvalidAccount as bad:
        context["error"] = str(bad)
        return page(request, name, status_code=422, **context)
    reads: ReadModels = request.app.state.reads
    statement = await statement_page(reads, account, cursor, PAGE)
    context.update(canonical=statement.account, statement=statement)
    return page(request, name, **context)
