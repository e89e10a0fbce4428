"""Assets: import from the chain, list, inspect, holders, pause/resume, sync switch."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import msgspec
from litestar import Controller, Request, Response, get, post, put
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, FromQuery, JSONBody
from psycopg import sql

from api import queries, rows, schemas, writes
from api.auth import principal_of
from api.keys import ADMIN, OPERATE, READ
from api.params import Cursor, Limit, Wait
from api.problems import Problem
from api.tokens import TokenReader
from app import bonds
from app.commands import head
from app.ledger import PayoutLedger
from chain.token_reader import AssetOnOtherChainError
from domain import accounts


def import_asset(ledger: PayoutLedger, reader: TokenReader, body: schemas.AssetImport,
                 actor: str) -> tuple[UUID, int]:
    """Canonical accounts (InvalidAccount → 422) and the chain's facts, then one record.

    A `TokenReadError` (no contract, not a security token, another chain) is a 422 problem.
    """
    token = accounts.canonical(body.token)
    payment = accounts.canonical(body.payment_token)
    vault = accounts.canonical(body.vault) if body.vault else None
    if body.chain_id is not None and body.chain_id != reader.chain_id:
        raise AssetOnOtherChainError(f"this API reads chain {reader.chain_id}, not {body.chain_id}")
    facts = reader.read_token(token)
    asset_id = ledger.import_asset(
        chain_id=reader.chain_id, token_address=facts.address, name=facts.name,
        symbol=facts.symbol, decimals=facts.decimals, kind=facts.kind, payment_token=payment,
        payment_decimals=body.payment_decimals, vault_address=vault, actor=actor)
    return asset_id, writes.head(ledger)


class AssetController(Controller):
    path = "/assets"
    tags = ["assets"]  # noqa: RUF012  # Litestar declares it a list

    @post("/import", opt={"roles": OPERATE, "problems": (503,)}, operation_id="importAsset",
          status_code=201)
    async def import_(self, request: Request[Any, Any, Any],
                      data: JSONBody[schemas.AssetImport]) -> schemas.AssetWritten:
        """Read the token's facts from its contract and import it (idempotent). 422 when the
        address does not read as a security token; 503 when this process has no chain."""
        state = request.app.state
        asset_id, position = await writes.call(import_asset, state.ledger, state.token_reader,
                                               data, principal_of(request).actor)
        return schemas.AssetWritten(asset_id, position)

    @get("/", opt={"roles": READ}, operation_id="listAssets")
    async def list_(self, request: Request[Any, Any, Any], cursor: Cursor = None,
                    limit: Limit = 100, wait_for_position: Wait = 0) -> schemas.AssetPage:
        """Every imported asset, by id."""
        reads = request.app.state.reads
        await reads.wait_for(wait_for_position, "assets")
        after = rows.decode_cursor(cursor, 1)
        try:
            start = UUID(after[0]) if after else UUID(int=0)
        except ValueError:
            raise Problem(400, "bad-cursor", "the cursor is not one this API issued") from None
        found = await reads.all(sql.SQL(
            "SELECT * FROM {} WHERE asset_id > %s ORDER BY asset_id LIMIT %s").format(
            reads.table("assets")), (start, limit + 1))
        more = len(found) > limit
        return schemas.AssetPage([rows.asset(r) for r in found[:limit]],
                                 rows.encode_cursor(found[limit - 1]["asset_id"]) if more
                                 else None)

    @get("/{asset_id:uuid}", opt={"roles": READ}, operation_id="getAsset")
    async def get_one(self, request: Request[Any, Any, Any], asset_id: FromPath[UUID],
                      wait_for_position: Wait = 0) -> schemas.Asset:
        reads = request.app.state.reads
        await reads.wait_for(wait_for_position, "assets")
        row = await reads.by_key("assets", "assets", "asset_id", asset_id)
        if row is None:
            raise Problem(404, "not-found", f"no asset {asset_id}")
        return rows.asset(row)

    @get("/{asset_id:uuid}/holders", opt={"roles": READ}, operation_id="listAssetHolders")
    async def holders(self, request: Request[Any, Any, Any], asset_id: FromPath[UUID],
                      cursor: Cursor = None, limit: Limit = 100,
                      wait_for_position: Wait = 0,
                      view: FromQuery[schemas.HolderView] = "snapshot",
                      ) -> schemas.AssetHolderPage:
        """The asset's holders, by account. `view=snapshot` (the default): the balances of
        its latest snapshot, what its next distribution pays on. `view=live`: who holds it
        now, folded from the token's transfers as the ingestor saw them (final blocks only),
        so it moves between snapshots."""
        reads = request.app.state.reads
        await reads.wait_for(wait_for_position,
                             "live_holders" if view == "live" else "asset_holders")
        return await queries.asset_holder_page(reads, asset_id, cursor, limit, view)

    @post("/{asset_id:uuid}/pause", opt={"roles": OPERATE}, operation_id="pauseAsset",
          status_code=200)
    async def pause(self, request: Request[Any, Any, Any], asset_id: FromPath[UUID],
                    data: JSONBody[schemas.PauseRequest]) -> schemas.Written:
        """No new distributions while paused."""
        ledger = request.app.state.ledger
        return schemas.Written(await writes.call(
            ledger.pause_asset, asset_id, principal_of(request).actor, data.reason))

    @post("/{asset_id:uuid}/resume", opt={"roles": OPERATE}, operation_id="resumeAsset",
          status_code=200)
    async def resume(self, request: Request[Any, Any, Any],
                     asset_id: FromPath[UUID]) -> schemas.Written:
        ledger = request.app.state.ledger
        return schemas.Written(await writes.call(
            ledger.resume_asset, asset_id, principal_of(request).actor))

    @post("/{asset_id:uuid}/sync", opt={"roles": OPERATE}, operation_id="switchAssetSync",
          status_code=200)
    async def sync(self, request: Request[Any, Any, Any], asset_id: FromPath[UUID],
                   data: JSONBody[schemas.SyncRequest]) -> schemas.Written:
        """Switch holder synchronisation from the chain on or off."""
        ledger = request.app.state.ledger
        return schemas.Written(await writes.call(
            ledger.switch_asset_sync, asset_id, data.enabled, principal_of(request).actor))

    @put("/{asset_id:uuid}/bond-terms", opt={"roles": OPERATE}, operation_id="setBondTerms",
         status_code=200)
    async def bond_terms(self, request: Request[Any, Any, Any], asset_id: FromPath[UUID],
                         data: JSONBody[schemas.BondTermsSet]) -> schemas.Written:
        """Record a bond's coupon terms (rate, frequency, day count, issue date), recorded as
        `BondTermsUpdated` with the actor and reason; nominal and maturity default to the
        token's. A rate over 100 %, an unknown frequency or day count is a 422 problem whose
        `field` names it. The same terms again record nothing."""
        return schemas.Written(await writes.call(
            bonds.set_bond_terms, request.app.state.ledger, asset_id, data,
            principal_of(request).actor))

    @put("/{asset_id:uuid}/sweep-accounts", opt={"roles": ADMIN},
         operation_id="setSweepAccounts", status_code=200)
    async def set_sweep_accounts(self, request: Request[Any, Any, Any],
                                 asset_id: FromPath[UUID],
                                 data: JSONBody[schemas.SweepAccountsSet]) -> schemas.Written:
        """Configure where this asset's withheld tax (TAX_AUTHORITY) and dust (DUST) may be
        swept; a field left out or null clears it. Recorded as `SweepAccountsSet` with the
        actor; the same again records nothing. 422 for a malformed account, the zero address
        or the vault itself. The vault's admin must allow each account on-chain too."""
        ledger = request.app.state.ledger
        position = await writes.call(
            ledger.set_sweep_accounts, asset_id, tax_authority=data.tax_authority,
            dust=data.dust, actor=principal_of(request).actor, reason=data.reason)
        return schemas.Written(position or await writes.call(head, ledger))

    @get("/{asset_id:uuid}/sweep-accounts", opt={"roles": READ, "problems": (503,)},
         operation_id="getSweepAccounts")
    async def get_sweep_accounts(self, request: Request[Any, Any, Any],
                                 asset_id: FromPath[UUID],
                                 wait_for_position: Wait = 0) -> schemas.SweepAccountsView:
        """The accounts this asset's sweeps may send withheld tax and dust to, each with who
        set it, when and why (the `sweep_accounts` read model: pass the PUT's `position` as
        `wait_for_position` to read your write). 404 for an asset the read models do not
        have; 503 while the projector has not built this read model yet."""
        reads = request.app.state.reads
        await reads.wait_for(wait_for_position, "assets", "sweep_accounts")
        if await reads.by_key("assets", "assets", "asset_id", asset_id) is None:
            raise Problem(404, "not-found", f"no asset {asset_id}")
        found = [msgspec.convert(r, schemas.SweepAccount)
                 for r in await queries.sweep_account_rows(reads, asset_id)]
        by = {a.destination: a.account for a in found}
        return schemas.SweepAccountsView(by.get("TAX_AUTHORITY"), by.get("DUST"), found)

    @post("/{asset_id:uuid}/coupon-schedule", opt={"roles": OPERATE},
          operation_id="createCouponSchedule", status_code=201,
          responses={200: ResponseSpec(schemas.ScheduleWritten, generate_examples=False,
                                       description="A replay: the schedule defined before")})
    async def coupon_schedule(self, request: Request[Any, Any, Any], asset_id: FromPath[UUID],
                              data: JSONBody[schemas.CouponScheduleCreate]
                              ) -> Response[schemas.ScheduleWritten]:
        """One schedule paying every coupon of the bond from its recorded terms: occurrence
        n is coupon n + 1 on its coupon date (the last at maturity), per holder floor(units x
        nominal x rate x day-count fraction of its period). Idempotent by `key`; another
        key must approve it before it spawns anything."""
        sid, position, created = await writes.call(
            bonds.define_coupon_schedule, request.app.state.ledger, asset_id, data,
            principal_of(request).actor)
        return Response(schemas.ScheduleWritten(sid, position),
                        status_code=201 if created else 200)
