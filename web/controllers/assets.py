"""Assets: the table (search, kind filter, live), the import wizard (address → the token's
facts read from its contract → review → import) and an asset's page (facts, holders at the
latest snapshot, distributions, schedules, pause/resume).

Writes are the API's own: `api.controllers.assets.import_asset` and the ledger's
pause/resume, run off the loop by `api.writes.call`. The holders page is the API's
listAssetHolders handler itself; the table's search and holder counts are a small query here
(the API has no search).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, FromQuery, QueryParameter
from litestar.response import Template
from psycopg import sql
from rq import Queue

from api import rows, schemas, writes
from api.controllers.assets import import_asset
from api.controllers.schedules import VIEW as SCHEDULES
from api.controllers.vault import vault_observed_rows, vault_request_rows
from api.keys import ADMIN, APPROVE, OPERATE
from api.problems import Problem
from api.queries import (
    asset_holder_page,
    distribution_page,
    schedule_page,
    sweep_account_rows,
)
from api.reads import ReadModels
from app import vault_requests
from app.vault_ops import vault_status
from chain.token_reader import TokenFacts, TokenReadError, security_holder_count
from domain import accounts
from domain.actors import principal
from domain.asset import AssetKind
from domain.errors import IllegalTransition, InvalidAccount, InvalidInput
from domain.vault_admin import ROLE_NAMES
from web.auth import session_of
from web.forms import FORM, field_errors
from web.render import page

Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]
PAGE = 50
PageNumber = Annotated[int, QueryParameter(name="page", ge=1, le=100_000)]
HOLDERS_PAGE = 50
_LIST = (
    "SELECT a.*, (SELECT count(*) FROM {holders} h WHERE h.asset_id = a.asset_id) AS holders"
    " FROM {assets} a WHERE (%(q)s = '' OR a.name ILIKE %(like)s OR a.symbol ILIKE %(like)s"
    " OR a.token_address ILIKE %(like)s) AND (%(kind)s = '' OR a.kind = %(kind)s)"
    " ORDER BY a.name, a.asset_id LIMIT %(limit)s OFFSET %(offset)s")
IMPORT_FIELDS = {"$.token": "token", "$.payment_token": "payment_token",
                 "$.payment_decimals": "payment_decimals", "$.vault": "vault"}


@dataclass
class Listed:
    asset: schemas.Asset
    holders: int


async def search(reads: ReadModels, q: str, kind: str, page_number: int
                 ) -> tuple[list[Listed], bool]:
    """Assets whose name, symbol or token address contains `q`, of `kind` ('' for any), by
    name, with their holders at the latest snapshot; and whether a next page exists."""
    like = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    found = await reads.all(sql.SQL(_LIST).format(
        assets=reads.table("assets"), holders=reads.table("asset_holders")),
        {"q": q, "like": like, "kind": kind, "limit": PAGE + 1,
         "offset": (page_number - 1) * PAGE})
    listed = [Listed(rows.asset({k: v for k, v in r.items() if k != "holders"}), r["holders"])
              for r in found[:PAGE]]
    return listed, len(found) > PAGE


def _kind(kind: str | None) -> str:
    return kind if kind in {k.value for k in AssetKind} else ""


async def _asset(reads: ReadModels, asset_id: UUID) -> schemas.Asset:
    row = await reads.by_key("assets", "assets", "asset_id", asset_id)
    if row is None:
        raise Problem(404, "not-found", f"no asset {asset_id}")
    return rows.asset(row)


def _holders_now(reader: Any, address: str) -> int | None:
    """The token's holders now, when the reader has a web3 connection (else unknown)."""
    w3 = getattr(reader, "w3", None)
    if w3 is None:
        return None
    try:
        return security_holder_count(w3, address)
    except Exception:  # noqa: BLE001  # a fact for the review only, never a refusal
        return None


def _import_body(data: dict[str, str]) -> schemas.AssetImport:
    """The API's body from the form; raises ValidationError/InvalidAccount on bad input."""
    values: dict[str, Any] = {
        "token": data.get("token", "").strip(),
        "payment_token": data.get("payment_token", "").strip(),
        "payment_decimals": data.get("payment_decimals", "").strip()}
    try:
        values["payment_decimals"] = int(values["payment_decimals"])
    except ValueError:
        raise msgspec.ValidationError(
            "payment decimals: a whole number from 0 to 36 - at `$.payment_decimals`") from None
    if data.get("vault", "").strip():
        values["vault"] = data["vault"].strip()
    for name in ("token", "payment_token", "vault"):
        if name in values:
            try:
                accounts.address_bytes(values[name])
            except InvalidAccount as bad:
                raise msgspec.ValidationError(f"{bad} - at `$.{name}`") from None
    body = msgspec.convert(values, schemas.AssetImport)
    for name in ("token", "payment_token", "vault"):
        value = getattr(body, name)
        if value:
            try:
                accounts.canonical(value)
            except InvalidAccount as bad:
                raise msgspec.ValidationError(f"{bad} - at `$.{name}`") from None
    return body


def _refused(exc: Exception) -> dict[str, str]:
    if isinstance(exc, TokenReadError):
        return {"token": str(exc)}
    return field_errors(exc, IMPORT_FIELDS, hints=(("vault", "vault"),), default=FORM)


class AssetPanel(Controller):
    path = "/assets"
    include_in_schema = False

    @get("/")
    async def list_(self, request: Request[Any, Any, Any], q: FromQuery[str] = "",
                    kind: FromQuery[str] = "", page_number: PageNumber = 1) -> Template:
        return await self._table(request, "assets.html", q, kind, page_number)

    @get("/fragments/table")
    async def table(self, request: Request[Any, Any, Any], q: FromQuery[str] = "",
                    kind: FromQuery[str] = "", page_number: PageNumber = 1) -> Template:
        return await self._table(request, "_assets_table.html", q, kind, page_number)

    async def _table(self, request: Request[Any, Any, Any], name: str, q: str, kind: str,
                     page_number: int) -> Template:
        q = q.strip()[:200]
        listed, more = await search(request.app.state.reads, q, _kind(kind), page_number)
        return page(request, name, assets=listed, q=q, kind=_kind(kind), page=page_number,
                    more=more, kinds=[k.value for k in AssetKind])

    @get("/import", opt={"panel_roles": OPERATE})
    async def import_form(self, request: Request[Any, Any, Any]) -> Template:
        return page(request, "asset_import.html", step="address", values={}, errors={},
                    facts=None, holders=None)

    @post("/import/review", opt={"panel_roles": OPERATE}, status_code=200)
    async def review(self, request: Request[Any, Any, Any], data: Form) -> Template:
        """Step 2: the token's facts, read from its contract; nothing is recorded."""
        values = {k: data.get(k, "").strip() for k in
                  ("token", "payment_token", "payment_decimals", "vault")}
        try:
            body = _import_body(data)
            reader = request.app.state.token_reader
            facts: TokenFacts = await writes.call(reader.read_token,
                                                  accounts.canonical(body.token))
        except (msgspec.ValidationError, InvalidAccount, TokenReadError) as refused:
            return _wizard(request, "address", values, _refused(refused), status_code=422)
        holders = await writes.call(_holders_now, reader, facts.address)
        values["token"] = facts.address
        return _wizard(request, "review", values, {}, facts=facts, holders=holders)

    @post("/import", opt={"panel_roles": OPERATE}, status_code=201)
    async def import_(self, request: Request[Any, Any, Any], data: Form) -> Response[Any]:
        """Step 3: the API's import (the facts are read again: what is recorded is what the
        chain says at this moment)."""
        values = {k: data.get(k, "").strip() for k in
                  ("token", "payment_token", "payment_decimals", "vault")}
        state = request.app.state
        try:
            body = _import_body(data)
            asset_id, position = await writes.call(import_asset, state.ledger, state.token_reader,
                                            body, session_of(request).principal.actor)
        except (msgspec.ValidationError, InvalidAccount, TokenReadError) as refused:
            return _wizard(request, "address", values, _refused(refused), status_code=422)
        await state.reads.wait_for(position, "assets")  # the page it goes to shows it
        return Response("", status_code=201,
                        headers={"HX-Redirect": f"/panel/assets/{asset_id}"})

    @get("/{asset_id:uuid}")
    async def one(self, request: Request[Any, Any, Any], asset_id: FromPath[UUID],
                  cursor: FromQuery[str | None] = None,
                  live_cursor: FromQuery[str | None] = None) -> Template:
        return page(request, "asset.html", **await _detail(request, asset_id, cursor,
                                                           live_cursor))

    @get("/{asset_id:uuid}/fragments/facts")
    async def facts(self, request: Request[Any, Any, Any], asset_id: FromPath[UUID]) -> Template:
        return page(request, "_asset_facts.html", asset=await _asset(request.app.state.reads,
                                                                     asset_id))

    @get("/{asset_id:uuid}/fragments/holders")
    async def holders(self, request: Request[Any, Any, Any], asset_id: FromPath[UUID],
                      cursor: FromQuery[str | None] = None) -> Template:
        reads = request.app.state.reads
        asset = await _asset(reads, asset_id)
        return page(request, "_asset_holders.html", asset=asset,
                    holders=await _holder_page(request, asset_id, cursor), cursor=cursor)

    @get("/{asset_id:uuid}/fragments/live-holders")
    async def live_holders(self, request: Request[Any, Any, Any], asset_id: FromPath[UUID],
                           live_cursor: FromQuery[str | None] = None) -> Template:
        reads = request.app.state.reads
        asset = await _asset(reads, asset_id)
        return page(request, "_asset_live_holders.html", asset=asset,
                    live=await _holder_page(request, asset_id, live_cursor, "live"),
                    live_cursor=live_cursor)

    @get("/{asset_id:uuid}/fragments/related")
    async def related(self, request: Request[Any, Any, Any],
                      asset_id: FromPath[UUID]) -> Template:
        reads = request.app.state.reads
        return page(request, "_asset_related.html", asset=await _asset(reads, asset_id),
                    **await _related(reads, asset_id))

    @post("/{asset_id:uuid}/pause", opt={"panel_roles": OPERATE}, status_code=200)
    async def pause(self, request: Request[Any, Any, Any], asset_id: FromPath[UUID],
                    data: Form) -> Template:
        reason = data.get("reason", "").strip()
        if len(reason) > 500:
            raise InvalidInput("a reason is at most 500 characters")
        ledger = request.app.state.ledger
        position = await writes.call(ledger.pause_asset, asset_id,
                                     session_of(request).principal.actor, reason)
        return await self._after(request, asset_id, position)

    @post("/{asset_id:uuid}/resume", opt={"panel_roles": OPERATE}, status_code=200)
    async def resume(self, request: Request[Any, Any, Any],
                     asset_id: FromPath[UUID]) -> Template:
        ledger = request.app.state.ledger
        position = await writes.call(ledger.resume_asset, asset_id,
                                     session_of(request).principal.actor)
        return await self._after(request, asset_id, position)

    @get("/{asset_id:uuid}/fragments/vault")
    async def vault(self, request: Request[Any, Any, Any], asset_id: FromPath[UUID]) -> Template:
        return await _vault(request, asset_id)

    @post("/{asset_id:uuid}/vault/requests", opt={"panel_roles": ADMIN}, status_code=200)
    async def request_vault_op(self, request: Request[Any, Any, Any], asset_id: FromPath[UUID],
                               data: Form) -> Template:
        values = {k: (data.get(k) or "").strip() or None
                  for k in ("action", "role", "account", "target", "reason")}
        if not values["reason"] or len(values["reason"] or "") > 500:
            return await _vault(request, asset_id, status_code=422,
                                problem="a reason of 1 to 500 characters")
        try:
            number, position = await writes.call(
                vault_requests.request, request.app.state.ledger, asset_id,
                action=values["action"] or "", role_name=values["role"],
                account=values["account"], target=values["target"],
                reason=str(values["reason"]), actor=session_of(request).principal.actor,
                now=datetime.now(UTC))
        except (InvalidInput, IllegalTransition) as err:  # marks the form; nothing recorded
            return await _vault(request, asset_id, status_code=422, problem=str(err))
        return await _vault(request, asset_id, position=position,
                            flash=f"Vault request {number} asked: another approver approves"
                                  " it.")

    @post("/{asset_id:uuid}/vault/requests/{number:int}/approve",
          opt={"panel_roles": APPROVE}, status_code=200)
    async def approve_vault_op(self, request: Request[Any, Any, Any],
                               asset_id: FromPath[UUID], number: FromPath[int]) -> Template:
        state = request.app.state
        queue = Queue(vault_requests.QUEUE_NAME, connection=state.queue.connection) \
            if state.queue is not None else None
        position, _ = await writes.call(vault_requests.approve, state.ledger, queue, asset_id,
                                        number, session_of(request).principal.actor)
        sent = "queued for the vault's admin process" if queue is not None else \
            "this server has no queue: run `mass-payout vault work`"
        return await _vault(request, asset_id, position=position, flash=f"Approved; {sent}.")

    async def _after(self, request: Request[Any, Any, Any], asset_id: UUID,
                     position: int) -> Template:
        reads: ReadModels = request.app.state.reads
        await reads.wait_for(position, "assets")
        return page(request, "_asset_facts.html", asset=await _asset(reads, asset_id))


async def _holder_page(request: Request[Any, Any, Any], asset_id: UUID,
                       cursor: str | None, view: schemas.HolderView = "snapshot",
                       ) -> schemas.AssetHolderPage:
    """The API's listAssetHolders query (it stays in one place)."""
    return await asset_holder_page(request.app.state.reads, asset_id, cursor,
                                           HOLDERS_PAGE, view)


async def _related(reads: ReadModels, asset_id: UUID) -> dict[str, Any]:
    distributions = msgspec.json.decode(
        await distribution_page(reads, (asset_id, None, None, None, None), None, 20),
        type=schemas.DistributionPage)
    schedules = msgspec.json.decode(
        await reads.cached(SCHEDULES, ("list", asset_id, 0, 50),
                           lambda: schedule_page(reads, asset_id, 0, 50)),
        type=schemas.SchedulePage)
    return {"distributions": distributions.items, "more_distributions":
            distributions.next_cursor is not None, "schedules": schedules.items}


async def _detail(request: Request[Any, Any, Any], asset_id: UUID,
                  cursor: str | None, live_cursor: str | None = None) -> dict[str, Any]:
    reads = request.app.state.reads
    asset = await _asset(reads, asset_id)
    return {"asset": asset, "holders": await _holder_page(request, asset_id, cursor),
            "cursor": cursor, "live_cursor": live_cursor,
            "live": await _holder_page(request, asset_id, live_cursor, "live"),
            **await _related(reads, asset_id)}


async def _vault(request: Request[Any, Any, Any], asset_id: UUID, *, status_code: int = 200,
                 position: int = 0, flash: str | None = None, **errors: str) -> Template:
    """The vault section: its state read from the chain (when this server reads one), its
    requests and the accounts its sweeps may pay (their read models), and what the caller
    may ask or approve."""
    state = request.app.state
    reads: ReadModels = state.reads
    if position:
        with contextlib.suppress(Problem):
            await reads.wait_for(position, "vault_ops")
    asset = await _asset(reads, asset_id)
    status = None
    w3 = getattr(state.token_reader, "w3", None)
    if asset.vault_address and w3 is not None:
        with contextlib.suppress(Exception):  # an unreadable chain: said so on the page
            status = await writes.call(vault_status, w3, asset.vault_address)
    me = session_of(request).principal
    return page(request, "_asset_vault.html", status_code=status_code, asset=asset,
                status=status, ops=await vault_request_rows(reads, asset_id),
                observed=await vault_observed_rows(reads, asset_id),
                sweep_accounts=await sweep_account_rows(reads, asset_id), errors=errors,
                flash=flash, me=principal(me.actor), who=principal, roles=ROLE_NAMES,
                can_approve=me.role in APPROVE, can_request=me.role in ADMIN)


def _wizard(request: Request[Any, Any, Any], step: str, values: dict[str, str],
            errors: dict[str, str], *, status_code: int = 200, facts: TokenFacts | None = None,
            holders: int | None = None) -> Template:
    fragment = request.headers.get("hx-request") == "true"
    return page(request, "_asset_import.html" if fragment else "asset_import.html",
                status_code=status_code, step=step, values=values, errors=errors, facts=facts,
                holders=holders)
