"""Claims: a holder's unpaid leaf, its proof and the calldata to pull it from the vault.

The holders read model finds the account's leaf (an indexed lookup); the ledger then decides
whether that leaf is still unpaid and proves it from its batch (`app.claims`), so a lagging
read model can never hand out a claim for a leaf the ledger knows is paid.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import msgspec
from litestar import Controller, Request, get
from litestar.params import FromPath
from psycopg import sql

from api import writes
from api.keys import READ
from api.params import Wait
from api.problems import Problem
from api.reads import ReadModels
from app.claims import claim_of
from domain import accounts


class ClaimLeaf(msgspec.Struct):
    index: int
    account: str
    amount: str  # smallest units, as a decimal string


class HolderClaim(msgspec.Struct):
    """Everything a wallet needs to send the claim: sign `data` to `to` on `chain_id`."""

    distribution_id: UUID
    leaf: ClaimLeaf
    status: str  # FAILED: the push failed; PENDING: no push reached it yet
    proof: list[str]
    merkle_root: str
    to: str  # the vault
    chain_id: int
    claim_deadline: datetime
    data: str  # claim(bytes32,uint256,address,uint256,bytes32[]) calldata
    function: str = "claim(bytes32,uint256,address,uint256,bytes32[])"


class ClaimController(Controller):
    path = "/distributions/{distribution_id:uuid}/claims"
    tags = ["claims"]  # noqa: RUF012  # Litestar declares it a list

    @get("/{account:str}", opt={"roles": READ, "problems": (409, 422)}, operation_id="getClaim")
    async def get_claim(self, request: Request[Any, Any, Any], distribution_id: FromPath[UUID],
                        account: FromPath[str], wait_for_position: Wait = 0) -> HolderClaim:
        """The account's unpaid leaf (index, account, amount), its Merkle proof and the
        ready-to-sign `claim` calldata with the vault address and chain id. 404 when the
        account has no unpaid leaf (never entitled, skipped, or already paid or claimed);
        409 when nothing can be claimed (not committed, cancelled, past the deadline); 422
        for a malformed account."""
        reads: ReadModels = request.app.state.reads
        await reads.wait_for(wait_for_position, "distribution_holders")
        address = accounts.canonical(account)
        row = await reads.one(sql.SQL(
            "SELECT leaf_index FROM {} WHERE distribution_id = %s AND account = %s"
            " AND leaf_index IS NOT NULL LIMIT 1").format(reads.table("distribution_holders")),
            (distribution_id, address))
        if row is None:
            raise Problem(404, "not-found", f"{address} has no unpaid entitlement in"
                                            f" distribution {distribution_id}")
        claim, target = await writes.call(claim_of, request.app.state.ledger, distribution_id,
                                          address, row["leaf_index"], datetime.now(UTC))
        return HolderClaim(distribution_id, ClaimLeaf(claim.index, claim.account,
                                                      str(claim.amount)),
                           claim.status, claim.proof, target.merkle_root, target.vault,
                           target.chain_id, target.claim_deadline, claim.calldata())
