"""A holder's statement: every payment to one account across distributions, paged, and the
same rows as CSV.

The queries are the API's (`api.controllers.holders.statement_page`); the CSV is the API's
`statement_csv`, the one its holderStatementCsv route answers, so both doors stream the same
file.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get
from litestar.params import FromQuery
from litestar.response import Stream, Template

from api.controllers.holders import statement_csv, statement_page
from api.reads import ReadModels
from domain import accounts
from domain.errors import InvalidAccount
from web.render import page

PAGE = 50
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


async def _render(request: Request[Any, Any, Any], name: str, account: str,
                  cursor: str | None) -> Template:
    account = account.strip()
    context: dict[str, Any] = {"account": account, "canonical": None, "statement": None,
                               "cursor": cursor, "error": None}
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
