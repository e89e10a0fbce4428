"""Distributions: create (idempotent), list, inspect, approve, execute, cancel."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, FromQuery, HeaderParameter, JSONBody
from psycopg import sql

from api import rows, schemas, writes
from api.auth import principal_of
from api.keys import APPROVE, OPERATE, READ
from api.params import Cursor, Limit, Wait
from api.problems import Problem
from domain.distribution import Status
from domain.terms import DistributionKind

IdempotencyKey = Annotated[str, HeaderParameter(name="Idempotency-Key", min_length=1,
                                          max_length=200)]


class DistributionController(Controller):
    path = "/distributions"
    tags = ["distributions"]  # noqa: RUF012  # Litestar declares it a list

    @post("/", opt={"roles": OPERATE}, operation_id="createDistribution", status_code=201)
    async def create(self, request: Request[Any, Any, Any],
                     data: JSONBody[schemas.DistributionCreate],
                     idempotency_key: IdempotencyKey) -> Response[schemas.DistributionWritten]:
        """Create a distribution. The same Idempotency-Key with the same body returns the same
        distribution (200); with a different body it is a 409 problem."""
        ledger = request.app.state.ledger
        did, position, created = await writes.call(
            writes.create_distribution, ledger, data, idempotency_key,
            principal_of(request).actor)
        return Response(schemas.DistributionWritten(did, position),
                        status_code=201 if created else 200)

    @get("/", opt={"roles": READ}, operation_id="listDistributions")
    async def list_(self, request: Request[Any, Any, Any], asset_id: FromQuery[UUID | None] = None,
                    status: FromQuery[Status | None] = None,
                    kind: FromQuery[DistributionKind | None] = None,
                    created_from: FromQuery[datetime | None] = None,
                    created_to: FromQuery[datetime | None] = None,
                    cursor: Cursor = None, limit: Limit = 50,
                    wait_for_position: Wait = 0) -> schemas.DistributionPage:
        """Newest first; filter by asset, status, kind and creation time; keyset cursor."""
        reads = request.app.state.reads
        await reads.wait_for(wait_for_position, "distributions")
        where: list[sql.Composable] = [sql.SQL("true")]
        params: list[Any] = []
        for column, value in (("asset_id", asset_id), ("status", status), ("kind", kind)):
            if value is not None:
                where.append(sql.SQL("{} = %s").format(sql.Identifier(column)))
                params.append(value)
        if created_from is not None:
            where.append(sql.SQL("created_at >= %s"))
            params.append(created_from)
        if created_to is not None:
            where.append(sql.SQL("created_at < %s"))
            params.append(created_to)
        after = rows.decode_cursor(cursor, 2)
        if after is not None:
            where.append(sql.SQL("(created_at, distribution_id) < (%s::timestamptz, %s::uuid)"))
            params.extend(after)
        found = await self._query(reads, sql.SQL(" AND ").join(where), params, limit)
        items = [rows.distribution(r) for r in found[:limit]]
        more = len(found) > limit
        last = found[limit - 1] if more else None
        return schemas.DistributionPage(items, rows.encode_cursor(
            last["created_at"].isoformat(), last["distribution_id"]) if last else None)

    @staticmethod
    async def _query(reads: Any, where: sql.Composable, params: list[Any],
                     limit: int) -> list[dict[str, Any]]:
        try:
            result: list[dict[str, Any]] = await reads.all(sql.SQL(
                "SELECT * FROM {} WHERE {} ORDER BY created_at DESC, distribution_id DESC"
                " LIMIT %s").format(reads.table("distributions"), where), [*params, limit + 1])
        except ValueError as err:  # a cursor that decodes but does not parse
            raise Problem(400, "bad-cursor", "the cursor is not one this API issued") from err
        return result

    @get("/{distribution_id:uuid}", opt={"roles": READ}, operation_id="getDistribution")
    async def get_one(self, request: Request[Any, Any, Any], distribution_id: FromPath[UUID],
                      wait_for_position: Wait = 0) -> schemas.Distribution:
        """Status, totals, dust, progress and timestamps."""
        reads = request.app.state.reads
        await reads.wait_for(wait_for_position, "distributions")
        row = await reads.by_key("distributions", "distributions", "distribution_id",
                                 distribution_id)
        if row is None:
            raise Problem(404, "not-found", f"no distribution {distribution_id}")
        return rows.distribution(row)

    @get("/{distribution_id:uuid}/holders", opt={"roles": READ}, operation_id="listHolders")
    async def holders(self, request: Request[Any, Any, Any], distribution_id: FromPath[UUID],
                      status: FromQuery[str | None] = None, cursor: Cursor = None,
                      limit: Limit = 100, wait_for_position: Wait = 0) -> schemas.HolderPage:
        """One row per holder in ledger order; filter by status (PAID, FAILED, …)."""
        reads = request.app.state.reads
        await reads.wait_for(wait_for_position, "distribution_holders")
        after = rows.decode_cursor(cursor, 1)
        if after is not None and not after[0].isdigit():
            raise Problem(400, "bad-cursor", "the cursor is not one this API issued")
        found = await reads.all(sql.SQL(
            "SELECT * FROM {} WHERE distribution_id = %s AND position > %s"
            " AND (%s::text IS NULL OR status = %s) ORDER BY position LIMIT %s").format(
            reads.table("distribution_holders")),
            (distribution_id, int(after[0]) if after else -1, status, status, limit + 1))
        more = len(found) > limit
        return schemas.HolderPage([rows.holder(r) for r in found[:limit]],
                                  rows.encode_cursor(found[limit - 1]["position"]) if more
                                  else None)

    @get("/{distribution_id:uuid}/batches", opt={"roles": READ}, operation_id="listBatches")
    async def batches(self, request: Request[Any, Any, Any], distribution_id: FromPath[UUID],
                      wait_for_position: Wait = 0) -> schemas.BatchPage:
        """Every batch: status, tx hashes, gas used and counts."""
        reads = request.app.state.reads
        await reads.wait_for(wait_for_position, "batches")
        found = await reads.all(sql.SQL(
            "SELECT * FROM {} WHERE distribution_id = %s ORDER BY number").format(
            reads.table("batches")), (distribution_id,))
        return schemas.BatchPage([rows.batch(r) for r in found], None)

    @post("/{distribution_id:uuid}/approve", opt={"roles": APPROVE},
          operation_id="approveDistribution", status_code=200)
    async def approve(self, request: Request[Any, Any, Any],
                      distribution_id: FromPath[UUID]) -> schemas.Written:
        """Four eyes: the approving key must differ from the creating key."""
        ledger = request.app.state.ledger
        return schemas.Written(await writes.call(
            ledger.approve_distribution, distribution_id, principal_of(request).actor))

    @post("/{distribution_id:uuid}/execute", opt={"roles": OPERATE, "problems": (503,)},
          operation_id="executeDistribution", status_code=200)
    async def execute(self, request: Request[Any, Any, Any],
                      distribution_id: FromPath[UUID]) -> schemas.ExecutionStarted:
        """Start execution of a committed distribution: one RQ job per batch with leaves
        left to pay (workers pay them). 503 when this process has no queue (REDIS_URL)."""
        state = request.app.state
        if state.queue is None:
            raise Problem(503, "queue-unavailable",
                          "no job queue is configured for this API process (set REDIS_URL)")
        position, queued = await writes.call(writes.execute, state.ledger, state.queue,
                                             distribution_id, principal_of(request).actor)
        return schemas.ExecutionStarted(position, queued)

    @post("/{distribution_id:uuid}/cancel", opt={"roles": APPROVE},
          operation_id="cancelDistribution", status_code=200)
    async def cancel(self, request: Request[Any, Any, Any], distribution_id: FromPath[UUID],
                     data: JSONBody[schemas.CancelRequest]) -> schemas.Written:
        """Cancel before execution starts."""
        ledger = request.app.state.ledger
        return schemas.Written(await writes.call(
            ledger.cancel_distribution, distribution_id, principal_of(request).actor,
            data.reason))
