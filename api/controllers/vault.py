"""An asset's vault as the chain has it, the upgrade check, and vault requests.

Pausing, roles and upgrades are signed transactions, and the API process holds no signing key
(compose.yaml: one key per on-chain role, each in the one process that uses it). So the API
records a REQUEST; another principal approves it, which queues the job that
`mass-payout vault work` runs with the admin-side key (app.vault_requests); the vault's log,
ingested, settles it. `mass-payout vault pause|unpause|grant|revoke|upgrade` still send
directly with the role's key (break-glass); their logs, ingested, are recorded as observed
changes, listed by `GET /assets/{id}/vault/observed`. The storage-layout check upgrades run
first is offered on its own too, so a release can be checked before anyone is asked to
approve it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec
from litestar import Controller, Request, get, post
from litestar.params import FromPath, JSONBody, QueryParameter
from psycopg import sql
from rq import Queue

from api import schemas, writes
from api.auth import principal_of
from api.keys import ADMIN, APPROVE, READ
from api.params import Wait
from api.problems import Problem
from api.reads import ReadModels
from app import vault_requests
from app.vault_ops import VaultOpRefused, check_upgrade, vault_status
from domain.errors import DomainError
from domain.vault_admin import VaultOps

ContractName = Annotated[str, QueryParameter(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,63}$",
                                     description="an artifact name, e.g. PayoutVaultV2")]


class VaultState(msgspec.Struct):
    vault: str
    paused: bool
    implementation: str
    version: int
    treasury: str
    roles: dict[str, bool] | None  # of `account`, when asked


class VaultRequestWritten(msgspec.Struct):
    number: int
    position: int


class VaultRequestApproved(msgspec.Struct):
    position: int
    queued_by: Literal["api", "none"]  # none: this API has no queue


class VaultRequest(msgspec.Struct):
    number: int
    action: str
    role: str | None
    account: str | None
    target: str | None
    state: str
    reason: str
    requested_by: str
    requested_at: datetime
    approved_by: str | None
    approved_at: datetime | None
    tx_hash: str | None
    rejection: str | None
    settled_at: datetime | None
    deploy_tx_hash: str | None  # UPGRADE: its implementation's deployment, once signed
    implementation: str | None  # UPGRADE: the contract that deployment made, once mined


class VaultChangeObserved(msgspec.Struct):
    log: str  # Paused | Unpaused | RoleGranted | RoleRevoked | Upgraded
    tx_hash: str
    detail: str
    observed_at: datetime


class UpgradeCheck(msgspec.Struct):
    current: str
    target: str
    compatible: bool
    reason: str | None


class VaultController(Controller):
    path = "/"
    tags = ["vault"]  # noqa: RUF012  # Litestar declares it a list

    @get("/assets/{asset_id:uuid}/vault", opt={"roles": READ, "problems": (422, 503)},
         operation_id="getVault")
    async def get_vault(self, request: Request[Any, Any, Any], asset_id: FromPath[UUID],
                        account: Annotated[str | None, QueryParameter(
                            description="also say which vault roles this account holds")]
                        = None) -> VaultState:
        """The asset's vault read from the chain: paused, implementation and version,
        treasury, and (with `account`) the roles that account holds. 404 for an asset with
        no vault; 422 for a malformed account; 503 when the chain cannot be read."""
        state = request.app.state
        asset = await writes.call(state.ledger.get_asset, asset_id)
        if not asset.vault_address:
            raise Problem(404, "not-found", f"asset {asset.symbol} pays through no vault")
        w3 = getattr(state.token_reader, "w3", None)
        if w3 is None:
            raise Problem(503, "chain-unavailable", "this API process reads no chain")
        try:
            found = await writes.call(vault_status, w3, asset.vault_address, account)
        except DomainError:
            raise
        except Exception as err:  # noqa: BLE001  # the RPC down, a vault that answers oddly
            raise Problem(503, "chain-unavailable", f"the vault could not be read: {err}"
                          ) from None
        return VaultState(found.vault, found.paused, found.implementation, found.version,
                          found.treasury, found.roles)

    @post("/assets/{asset_id:uuid}/vault/requests", opt={"roles": ADMIN},
          operation_id="requestVaultOperation", status_code=201)
    async def request_op(self, request: Request[Any, Any, Any], asset_id: FromPath[UUID],
                         data: JSONBody[schemas.VaultRequestCreate]) -> VaultRequestWritten:
        """Ask for a pause, unpause, role grant or revoke, or upgrade of the asset's vault;
        another principal approves it. 422 for an unknown action or role, a malformed
        account, an upgrade target whose storage layout does not keep the vault's, or an
        asset with no vault: nothing is recorded. 409 when the same request is open."""
        number, position = await writes.call(
            vault_requests.request, request.app.state.ledger, asset_id, action=data.action,
            role_name=data.role, account=data.account, target=data.target,
            reason=data.reason, actor=principal_of(request).actor, now=datetime.now(UTC))
        return VaultRequestWritten(number, position)

    @post("/assets/{asset_id:uuid}/vault/requests/{number:int}/approve",
          opt={"roles": APPROVE}, operation_id="approveVaultOperation", status_code=200)
    async def approve_op(self, request: Request[Any, Any, Any], asset_id: FromPath[UUID],
                         number: FromPath[int]) -> VaultRequestApproved:
        """Four eyes: another principal than the requester approves; the admin-key process's
        job is queued at once (`queued_by: none` when this process has no queue)."""
        state = request.app.state
        queue = Queue(vault_requests.QUEUE_NAME, connection=state.queue.connection) \
            if state.queue is not None else None
        position, _ = await writes.call(vault_requests.approve, state.ledger, queue, asset_id,
                                        number, principal_of(request).actor)
        return VaultRequestApproved(position, "api" if queue is not None else "none")

    @get("/assets/{asset_id:uuid}/vault/requests", opt={"roles": READ},
         operation_id="listVaultOperations")
    async def list_ops(self, request: Request[Any, Any, Any], asset_id: FromPath[UUID],
                       wait_for_position: Wait = 0) -> list[VaultRequest]:
        """The vault requests of the asset: who asked, who approved, the transaction (and an
        upgrade's implementation deployment), and whether the vault's log settled it."""
        return [VaultRequest(**row) for row in await vault_request_rows(
            request.app.state.reads, asset_id, wait_for_position)]

    @get("/assets/{asset_id:uuid}/vault/observed", opt={"roles": READ},
         operation_id="listVaultChangesObserved")
    async def list_observed(self, request: Request[Any, Any, Any], asset_id: FromPath[UUID],
                            wait_for_position: Wait = 0) -> list[VaultChangeObserved]:
        """Every administration of the asset's vault its log shows that no request here
        sent: an admin's own call with the admin key (`mass-payout vault pause`, a role
        granted by hand), the roles granted at deployment; oldest first."""
        return [VaultChangeObserved(**row) for row in await vault_observed_rows(
            request.app.state.reads, asset_id, wait_for_position)]

    @get("/vault/upgrade-check", opt={"roles": READ, "problems": (422,)},
         operation_id="checkVaultUpgrade")
    async def upgrade_check(self, target: ContractName,
                            current: ContractName = "PayoutVault") -> UpgradeCheck:
        """Whether `target` keeps `current`'s storage layout (every ERC-7201 namespace member,
        and every struct they reach, at the same slot, offset and type), and if not the first
        member that breaks. 422 for a contract this build has no layout of."""
        try:
            check_upgrade(current, target)
        except VaultOpRefused as err:
            if "no storage layout" in str(err):
                raise Problem(422, "invalid-input", str(err)) from None
            return UpgradeCheck(current, target, False, str(err))
        return UpgradeCheck(current, target, True, None)



async def vault_request_rows(reads: ReadModels, asset_id: UUID,
                             wait_for_position: int = 0) -> list[dict[str, Any]]:
    """The asset's vault requests from their read model (also the panel's), in order."""
    await reads.wait_for(wait_for_position, "vault_ops")
    rows: list[dict[str, Any]] = await reads.all(sql.SQL(
        "SELECT number, action, role, account, target, state, reason, requested_by,"
        " requested_at, approved_by, approved_at, tx_hash, rejection, settled_at,"
        " deploy_tx_hash, implementation FROM {}"
        " WHERE ops_id = %s ORDER BY number").format(reads.table("vault_ops")),
        (VaultOps.create_id(asset_id),))
    return rows


async def vault_observed_rows(reads: ReadModels, asset_id: UUID,
                              wait_for_position: int = 0) -> list[dict[str, Any]]:
    """The vault changes observed on chain that no request sent (also the panel's)."""
    await reads.wait_for(wait_for_position, "vault_ops")
    rows: list[dict[str, Any]] = await reads.all(sql.SQL(
        "SELECT log, tx_hash, detail, observed_at FROM {} WHERE ops_id = %s"
        " ORDER BY position").format(reads.table("vault_observed")),
        (VaultOps.create_id(asset_id),))
    return rows
