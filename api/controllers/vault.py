"""An asset's vault as the chain has it, and the upgrade check, over the API.

Reads only. Pausing, roles and upgrades are signed transactions, and the API process holds no
signing key (compose.yaml: one key per on-chain role, each in the one process that uses it):
they are `mass-payout vault pause|unpause|grant|revoke|upgrade`, run with the role's key. The
storage-layout check those upgrades run first is offered here too, so a release can be checked
before anyone holding the upgrader's key is asked to send it.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Controller, Request, get
from litestar.params import FromPath, QueryParameter

from api import writes
from api.keys import READ
from api.problems import Problem
from app.vault_ops import VaultOpRefused, check_upgrade, vault_status
from domain.errors import DomainError

ContractName = Annotated[str, QueryParameter(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,63}$",
                                     description="an artifact name, e.g. PayoutVaultV2")]


class VaultState(msgspec.Struct):
    vault: str
    paused: bool
    implementation: str
    version: int
    treasury: str
    roles: dict[str, bool] | None  # of `account`, when asked


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

