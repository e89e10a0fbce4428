"""Treasury operations on a distribution: reclaim (after the claim deadline) and sweep
(withheld, dust, skipped), each requested by one key's principal and approved by another's;
approving queues the treasurer's job (app.treasury), which sends it with the treasurer's key.

Nothing here touches the chain: a refused request (before the deadline, more than is left to
sweep) is a 422 problem and records nothing; the four-eyes rule is a 403.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal
from uuid import UUID

import msgspec
from litestar import Controller, Request, get, post
from litestar.params import FromPath, JSONBody
from psycopg import sql
from rq import Queue

from api import writes
from api.auth import principal_of
from api.keys import APPROVE, OPERATE, READ
from api.params import Wait
from api.reads import ReadModels
from api.schemas import ReclaimRequest, SweepRequest
from app import treasury


class TreasuryOpWritten(msgspec.Struct):
    number: int
    position: int


class TreasuryOpApproved(msgspec.Struct):
    position: int
    queued_by: Literal["api", "none"]  # none: this API has no queue; queue it with the CLI


class TreasuryOp(msgspec.Struct):
    number: int
    kind: str
    state: str
    amount: str
    reason: str
    requested_by: str
    requested_at: datetime
    approved_by: str | None
    approved_at: datetime | None
    tx_hash: str | None
    rejection: str | None
    treasury: str | None  # where the vault's log says the money went
    settled_at: datetime | None
    destination: str  # TREASURY | TAX_AUTHORITY | DUST
    recipient: str | None  # the configured account a sweep was asked for; null: the treasury


class TreasuryController(Controller):
    path = "/distributions/{distribution_id:uuid}"
    tags = ["treasury"]  # noqa: RUF012  # Litestar declares it a list

    @post("/reclaim", opt={"roles": OPERATE}, operation_id="requestReclaim", status_code=201)
    async def reclaim(self, request: Request[Any, Any, Any], distribution_id: FromPath[UUID],
                      data: JSONBody[ReclaimRequest]) -> TreasuryOpWritten:
        """Ask to return what the distribution left unpaid to the vault's treasury. 422
        before the claim deadline (holders may still claim), 409 when it is reclaimed or
        being reclaimed already. Another principal approves it."""
        number, position = await writes.call(
            request.app.state.ledger.request_reclaim, distribution_id,
            actor=principal_of(request).actor, reason=data.reason, now=datetime.now(UTC))
        return TreasuryOpWritten(number, position)

    @post("/sweeps", opt={"roles": OPERATE}, operation_id="requestSweep", status_code=201)
    async def sweep(self, request: Request[Any, Any, Any], distribution_id: FromPath[UUID],
                    data: JSONBody[SweepRequest]) -> TreasuryOpWritten:
        """Ask to sweep withheld tax, dust and skipped holders' amounts the distribution left
        in the vault to its treasury, or withheld tax to the asset's configured tax authority
        (`destination: TAX_AUTHORITY`) or dust to its dust account (`DUST`); the account is
        recorded with the request. 422 for more than is left to sweep there, or a destination
        the asset has no account for."""
        number, position = await writes.call(
            request.app.state.ledger.request_sweep, distribution_id,
            actor=principal_of(request).actor, amount=int(data.amount), reason=data.reason,
            now=datetime.now(UTC), destination=data.destination)
        return TreasuryOpWritten(number, position)

    @post("/treasury-ops/{number:int}/approve", opt={"roles": APPROVE},
          operation_id="approveTreasuryOp", status_code=200)
    async def approve(self, request: Request[Any, Any, Any], distribution_id: FromPath[UUID],
                      number: FromPath[int]) -> TreasuryOpApproved:
        """Four eyes: another principal than the requester approves; the treasurer's job is
        queued at once (`queued_by: none` when this process has no queue)."""
        state = request.app.state
        queue = Queue(treasury.QUEUE_NAME, connection=state.queue.connection) \
            if state.queue is not None else None
        position, _queued = await writes.call(treasury.approve, state.ledger, queue,
                                              distribution_id, number,
                                              principal_of(request).actor)
        return TreasuryOpApproved(position, "api" if queue is not None else "none")

    @get("/treasury-ops", opt={"roles": READ}, operation_id="listTreasuryOps")
    async def list_(self, request: Request[Any, Any, Any], distribution_id: FromPath[UUID],
                    wait_for_position: Wait = 0) -> list[TreasuryOp]:
        """Every reclaim and sweep of the distribution: who asked, who approved, the
        transaction, and what the vault's log says came of it."""
        reads: ReadModels = request.app.state.reads
        await reads.wait_for(wait_for_position, "treasury_ops")
        found = await reads.all(sql.SQL(
            "SELECT number, kind, state, amount::text AS amount, reason, requested_by,"
            " requested_at, approved_by, approved_at, tx_hash, rejection, treasury, settled_at,"
            " destination, recipient FROM {} WHERE distribution_id = %s ORDER BY number").format(
            reads.table("treasury_ops")), (distribution_id,))
        return [TreasuryOp(**row) for row in found]
