"""Distributions: create (idempotent), list, inspect, approve, execute, cancel."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from psycopg import sql

from api import queries, rows, schemas, writes
from api.auth import principal_of
from api.controllers.audit import (
    AS_OF_HEADERS,
    AS_OF_POSITION,
    OptionalAsOf,
    distribution_as_of_view,
    holder_page_as_of,
)
from api.controllers.holders import live_holders
from api.keys import APPROVE, OPERATE, READ
from api.params import Cursor, DateTimeQuery, IdempotencyKey, Limit, Wait, moment
from api.problems import Problem
from api.reads import ReadModels
from app.preview import Preview, preview_distribution
from domain.distribution import Status
from domain.terms import DistributionKind
from projections.holders import HolderStatus


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

    @post("/preview", opt={"roles": OPERATE}, operation_id="previewDistribution",
          status_code=200)
    async def preview(self, request: Request[Any, Any, Any],
                      data: JSONBody[schemas.DistributionCreate],
                      skipped_limit: Annotated[int, QueryParameter(
                          ge=0, le=500, description="how many skipped holders to list")] = 20,
                      ) -> schemas.DistributionPreview:
        """What createDistribution would create with this body, frozen now from the asset's
        holders as listAssetHolders shows them (its latest snapshot): totals, skipped holders
        by reason, batches, estimated gas and the Merkle root, computed by the ledger's own
        entitlement and planning code. Records nothing (no Idempotency-Key). The same
        refusals as createDistribution; 422 when no holder of the asset is known yet, and
        for a PERCENTAGE rule (the vault's balance is read at the snapshot)."""
        state = request.app.state
        found: Preview = await writes.call(
            preview_distribution, state.ledger, live_holders(state.reads, state.token_reader), data,
            gas_model=state.gas_model, skipped_sample=skipped_limit)
        return schemas.DistributionPreview(
            True, found.asset_id, found.holders, found.eligible, found.skipped,
            str(found.gross), str(found.net), str(found.withheld), str(found.dust),
            str(found.skipped_amount), found.merkle_root, found.batches, found.estimated_gas,
            schemas.SkippedCounts(**found.skipped_by_reason), [schemas.PreviewSkippedHolder(
                h.position, h.account, str(h.balance), str(h.gross), h.reason)
                for h in found.skipped_holders])

    @get("/", opt={"roles": READ}, operation_id="listDistributions")
    async def list_(self, request: Request[Any, Any, Any], asset_id: FromQuery[UUID | None] = None,
                    status: FromQuery[Status | None] = None,
                    kind: FromQuery[DistributionKind | None] = None,
                    created_from: DateTimeQuery = None, created_to: DateTimeQuery = None,
                    cursor: Cursor = None, limit: Limit = 50,
                    wait_for_position: Wait = 0) -> Response[schemas.DistributionPage]:
        """Newest first; filter by asset, status, kind and creation time; keyset cursor."""
        reads: ReadModels = request.app.state.reads
        await reads.wait_for(wait_for_position, "distributions")
        filters = (asset_id, None if status is None else status.value,
                   None if kind is None else kind.value, moment(created_from, "created_from"),
                   moment(created_to, "created_to"))
        body = await reads.cached("distributions", ("list", *filters, cursor, limit),
                                  lambda: queries.distribution_page(reads, filters, cursor, limit))
        return rows.encoded(body)

    @get("/{distribution_id:uuid}", opt={"roles": READ, "problems": (422,)},
         operation_id="getDistribution", response_headers=AS_OF_HEADERS)
    async def get_one(self, request: Request[Any, Any, Any], distribution_id: FromPath[UUID],
                      wait_for_position: Wait = 0,
                      as_of: OptionalAsOf = None) -> Response[schemas.Distribution]:
        """Status, totals, dust, progress and timestamps.

        With `as_of`, as the ledger had recorded it then (replayed from its events, not the
        read model; `wait_for_position` is moot), with the position answered in the
        X-As-Of-Position header: the timestamps are those of its events up to then,
        `updated_at` its last event then, `batches_settled` its batches SETTLED then. 404 if
        it did not exist yet; 422 for a position past the ledger's last."""
        if as_of is not None:
            position, found = await writes.call(
                distribution_as_of_view, request.app.state.ledger, distribution_id, as_of)
            return Response(found, headers={AS_OF_POSITION: str(position)})
        reads: ReadModels = request.app.state.reads
        await reads.wait_for(wait_for_position, "distributions")
        body = await reads.cached("distributions", ("one", distribution_id),
                                  lambda: queries.distribution_body(reads, distribution_id))
        if body is None:
            raise Problem(404, "not-found", f"no distribution {distribution_id}")
        return rows.encoded(body)

    @get("/{distribution_id:uuid}/holders", opt={"roles": READ, "problems": (422,)},
         operation_id="listHolders", response_headers=AS_OF_HEADERS)
    async def holders(self, request: Request[Any, Any, Any], distribution_id: FromPath[UUID],
                      status: FromQuery[HolderStatus | None] = None, cursor: Cursor = None,
                      limit: Limit = 100, wait_for_position: Wait = 0,
                      as_of: OptionalAsOf = None) -> Response[schemas.HolderPage]:
        """One row per holder in ledger order; filter by status (PAID, FAILED, …).

        With `as_of`, as the distribution's batches had recorded them then (replayed, not
        the read model; the same cursor pages on; `wait_for_position` is moot), with the
        position answered in the X-As-Of-Position header: `tx_hash` is the last batch
        transaction that carried the holder's leaf by then and `attempts` how many did (a
        claim's transaction is not one of them). Empty before the snapshot; 404 if the
        distribution did not exist yet; 422 for a position past the ledger's last."""
        after = rows.decode_position(cursor)
        if as_of is not None:
            position, page = await writes.call(
                holder_page_as_of, request.app.state.ledger, distribution_id, as_of, after,
                limit, status and status.value)
            return Response(page, headers={AS_OF_POSITION: str(position)})
        reads = request.app.state.reads
        await reads.wait_for(wait_for_position, "distribution_holders")
        found = await reads.all(sql.SQL(
            "SELECT * FROM {} WHERE distribution_id = %s AND position > %s"
            " AND (%s::text IS NULL OR status = %s) ORDER BY position LIMIT %s").format(
            reads.table("distribution_holders")),
            (distribution_id, after, status and status.value, status and status.value,
             limit + 1))
        more = len(found) > limit
        return Response(schemas.HolderPage(
            [rows.holder(r) for r in found[:limit]],
            rows.encode_cursor(found[limit - 1]["position"]) if more else None))

    @get("/{distribution_id:uuid}/batches", opt={"roles": READ}, operation_id="listBatches")
    async def batches(self, request: Request[Any, Any, Any], distribution_id: FromPath[UUID],
                      cursor: Cursor = None, limit: Limit = 100,
                      wait_for_position: Wait = 0) -> Response[schemas.BatchPage]:
        """Batches in order, a page at a time: status, tx hashes, gas used and counts; why a
        blocked one is blocked, transient faults and when the next attempt is due, and
        operator retries."""
        reads: ReadModels = request.app.state.reads
        await reads.wait_for(wait_for_position, "batches")
        after = rows.decode_position(cursor)
        body = await reads.cached("batches", ("batches", distribution_id, after, limit),
                                  lambda: queries.batch_page(reads, distribution_id, after, limit))
        return rows.encoded(body)

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

    @post("/{distribution_id:uuid}/retry", opt={"roles": APPROVE, "problems": (503,)},
          operation_id="retryDistribution", status_code=200)
    async def retry(self, request: Request[Any, Any, Any], distribution_id: FromPath[UUID],
                    data: JSONBody[schemas.RetryRequest]) -> schemas.RetryStarted:
        """Pay failed holders again (all, or `leaf_indices`) and unblock blocked batches: an
        approver's call, since it spends again. The batches are queued here, or, when this
        process has no job queue (`queued_by: supervisor`) or Redis fails after the retry
        was recorded (503), by the supervisor. 409 when nothing is left to retry or a
        listed leaf has not failed; 422 for a leaf outside the distribution."""
        state = request.app.state
        result: schemas.RetryStarted = await writes.call(
            writes.retry, state.ledger, state.queue, distribution_id,
            principal_of(request).actor, data)
        return result


