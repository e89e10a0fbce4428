"""Holders: one account's statement across distributions (a page, or every row as CSV), and
the asset's live holders as the preview's holders source.

The read-model queries are module functions, so the admin panel calls the same ones the
routes do: `statement_page`, `statement_rows`, `statement_csv` and `live_holders`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any
from uuid import UUID

from anyio import from_thread
from litestar import Controller, Request, get
from litestar.response import Stream
from psycopg import sql
from psycopg.rows import tuple_row

from api import rows, schemas
from api.keys import READ
from api.params import AccountPath, Cursor, Limit, Wait
from api.problems import Problem
from api.reads import ReadModels
from api.tokens import TokenReader
from app.preview import HolderPages, HoldersSource
from chain.token_reader import TokenReadError
from domain import accounts

# StatementEntry's fields in order: a row becomes the Struct positionally.
_EXPRESSIONS = {
    "distribution_id": "d.distribution_id", "asset_id": "d.asset_id",
    "asset_symbol": "a.symbol", "payment_token": "a.payment_token",
    "payment_decimals": "a.payment_decimals", "kind": "d.kind", "concept": "d.concept",
    "record_date": "d.record_date", "distribution_status": "d.status",
    "balance": "h.balance::text", "gross": "h.gross::text", "withheld": "h.withheld::text",
    "net": "h.net::text", "status": "h.status", "skip_reason": "h.skip_reason",
    "tx_hash": "h.tx_hash", "failure_reason": "h.failure_reason", "attempts": "h.attempts",
    "created_at": "d.created_at"}
CSV_COLUMNS = schemas.StatementEntry.__struct_fields__
_CREATED = CSV_COLUMNS.index("created_at")
# One row per distribution that entitled the account (a snapshot lists an account once):
# found by the account index of distribution_holders, newest distribution first.
_STATEMENT = (
    "SELECT " + rows.columns(schemas.StatementEntry, _EXPRESSIONS)  # noqa: S608
    + " FROM {h} h JOIN {d} d ON d.distribution_id = h.distribution_id"
    " LEFT JOIN {a} a ON a.asset_id = d.asset_id WHERE h.account = %s{after}"
    " ORDER BY d.created_at DESC, d.distribution_id DESC")


def _statement_query(reads: ReadModels, keyset: bool, limited: bool) -> sql.Composed:
    after = " AND (d.created_at, d.distribution_id) < (%s, %s)" if keyset else ""
    return sql.SQL(_STATEMENT.replace("{after}", after) + (" LIMIT %s" if limited else "")
                   ).format(h=reads.table("distribution_holders"),
                            d=reads.table("distributions"), a=reads.table("assets"))


async def statement_page(reads: ReadModels, account: str, cursor: str | None = None,
                         limit: int = 100) -> schemas.StatementPage:
    """`account` (an EVM address or a Hedera id) entitled by each distribution, newest
    first, `limit` at a time; an account no distribution entitled has an empty page.
    InvalidAccount (a wrong checksum) → 422; a cursor this API did not issue → 400."""
    canonical = accounts.canonical(account)
    after = rows.decode_cursor(cursor, 2)
    try:
        keyset = (datetime.fromisoformat(after[0]), UUID(after[1])) if after else ()
    except ValueError:
        raise Problem(400, "bad-cursor", "the cursor is not one this API issued") from None
    found = await reads.tuples(_statement_query(reads, bool(keyset), limited=True),
                               (canonical, *keyset, limit + 1))
    items = [schemas.StatementEntry(*r) for r in found[:limit]]
    last = found[limit - 1] if len(found) > limit else None
    return schemas.StatementPage(canonical, items, rows.encode_cursor(
        last[_CREATED].isoformat(), last[0]) if last else None)


async def statement_rows(reads: ReadModels, account: str) -> AsyncIterator[tuple[Any, ...]]:
    """Every row of the statement, in CSV_COLUMNS order, newest first, read with a server
    side cursor (a holder of many distributions is never all in memory)."""
    canonical = accounts.canonical(account)
    query = _statement_query(reads, keyset=False, limited=False)
    async with reads.pool.connection() as conn, conn.transaction(), \
            conn.cursor(name="statement", row_factory=tuple_row) as cur:
        await cur.execute(query, (canonical,))
        while chunk := await cur.fetchmany(5_000):
            for row in chunk:
                yield row


async def asset_holder_rows(reads: ReadModels, asset_id: UUID) -> list[tuple[str, int]]:
    """The asset's holders as the `asset_holders` read model knows them now (the balances of
    its latest snapshot): `(account, balance)`, in no particular order."""
    found = await reads.tuples(sql.SQL(
        "SELECT account, balance::text FROM {} WHERE asset_id = %s").format(
        reads.table("asset_holders")), (asset_id,))
    return [(account, int(balance)) for account, balance in found]


def live_holders(reads: ReadModels, token_reader: TokenReader | None = None) -> HoldersSource:
    """`app.preview`'s holders source, for a worker thread that anyio started
    (`api.writes.call`): the preview runs off the event loop, the reads on it.

    The holders the `asset_holders` read model knows (its latest snapshot's balances); for an
    asset never snapshotted yet, the token's balances now, read from the chain when this
    process has one (else, or when the token cannot list them, no holder: a 422)."""
    def source(asset_id: UUID) -> HolderPages:
        known = from_thread.run(asset_holder_rows, reads, asset_id)
        if known or token_reader is None:
            return [known]
        token = from_thread.run(_token_of, reads, asset_id)
        if token is None:
            return [known]
        try:
            return list(token_reader.holders_now(token))
        except TokenReadError:
            return [known]
    return source


async def _token_of(reads: ReadModels, asset_id: UUID) -> str | None:
    row = await reads.one(sql.SQL("SELECT token_address FROM {} WHERE asset_id = %s").format(
        reads.table("assets")), (asset_id,))
    return None if row is None else str(row["token_address"])


def _cell(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def statement_csv(reads: ReadModels, account: str) -> Stream:
    """`account`'s whole statement as a CSV stream; InvalidAccount (422) before any row."""
    canonical = accounts.canonical(account)

    async def lines() -> AsyncIterator[str]:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(CSV_COLUMNS)
        count = 0
        async for row in statement_rows(reads, canonical):
            writer.writerow([_cell(v) for v in row])
            count += 1
            if count % 5_000 == 0:
                yield out.getvalue()
                out.seek(0)
                out.truncate()
        yield out.getvalue()

    return Stream(lines(), media_type="text/csv", headers={
        "Content-Disposition": f'attachment; filename="statement-{canonical}.csv"'})


class HolderController(Controller):
    path = "/holders"
    tags = ["holders"]  # noqa: RUF012  # Litestar declares it a list

    @get("/{account:str}/payments", opt={"roles": READ, "problems": (422,)},
         operation_id="holderStatement")
    async def statement(self, request: Request[Any, Any, Any], account: AccountPath,
                        cursor: Cursor = None, limit: Limit = 100,
                        wait_for_position: Wait = 0) -> schemas.StatementPage:
        """The account's statement: each distribution that entitled it, newest first, with
        its amounts (smallest units of `payment_token`), status and tx hash. An account no
        distribution entitled has an empty list. 422 for a wrong EIP-55 checksum."""
        reads: ReadModels = request.app.state.reads
        await reads.wait_for(wait_for_position, "distribution_holders", "distributions",
                             "assets")
        return await statement_page(reads, account, cursor, limit)

    @get("/{account:str}/payments.csv", opt={"roles": READ, "problems": (422,)},
         operation_id="holderStatementCsv", media_type="text/csv")
    async def statement_csv(self, request: Request[Any, Any, Any],
                            account: AccountPath) -> Stream:
        """The whole statement as CSV, newest first, with the columns of holderStatement's
        items; amounts in smallest units."""
        return statement_csv(request.app.state.reads, account)
