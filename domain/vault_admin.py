"""Vault administration asked for through the API: pause, unpause, grant or revoke a role,
upgrade. The API holds no signing key, so it records a request; another person approves it
(four eyes); an admin-key process sends it (app.vault_requests); the vault's log settles it.

One `VaultOps` aggregate per asset's vault keeps that vault's requests, numbered from 0, with
the same states as a treasury operation (domain.treasury.TreasuryState), and every change of
the vault's administration its log shows that no request of ours sent (`Observed`): an admin's
own call with the admin key (`mass-payout vault pause`, a break-glass pause, a role granted by
hand) or the roles granted when it was deployed. So the ledger holds every change to the vault,
and an auditor sees which went through four eyes and which did not.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain import accounts
from domain.actors import same_principal
from domain.errors import IllegalTransition, InvalidInput, MakerCheckerViolation, NotFound
from domain.ids import NAMESPACE
from domain.treasury import OPEN_STATES, TreasuryState
from domain.values import utc

# The vault's roles (PayoutVault.sol), by the names the CLI and the API take.
ROLE_NAMES = ("DEFAULT_ADMIN", "APPROVER", "OPERATOR", "PAUSER", "TREASURER", "UPGRADER")


class VaultAction(StrEnum):
    PAUSE = "PAUSE"
    UNPAUSE = "UNPAUSE"
    GRANT = "GRANT"
    REVOKE = "REVOKE"
    UPGRADE = "UPGRADE"


# The vault log that settles each action (the ingestor's `VaultAdministered.event`).
SETTLING_LOG = {VaultAction.PAUSE: "Paused", VaultAction.UNPAUSE: "Unpaused",
                VaultAction.GRANT: "RoleGranted", VaultAction.REVOKE: "RoleRevoked",
                VaultAction.UPGRADE: "Upgraded"}


@dataclass
class VaultOp:
    number: int
    action: VaultAction
    role: str | None
    account: str | None
    target: str | None  # an upgrade's implementation contract (artifact name)
    reason: str
    requested_by: str
    requested_at: datetime
    state: TreasuryState = TreasuryState.REQUESTED
    approved_by: str | None = None
    tx_hashes: list[str] = field(default_factory=list)
    nonces: list[int] = field(default_factory=list)
    last_signed_at: datetime | None = None
    settled_tx: str | None = None
    rejection: str | None = None
    # An upgrade's new implementation: its creation transactions (recorded before each was
    # broadcast), and the address the mined one made, which `upgradeToAndCall` names.
    deploy_tx_hashes: list[str] = field(default_factory=list)
    deploy_nonces: list[int] = field(default_factory=list)
    deploy_signed_at: datetime | None = None
    implementation: str | None = None


@dataclass(frozen=True)
class ObservedChange:
    """A vault administration log no request of ours sent."""

    log: str      # Paused | Unpaused | RoleGranted | RoleRevoked | Upgraded
    tx_hash: str
    detail: str   # what the log says, e.g. "APPROVER granted to 0x… by 0x…"


def check_request(action: VaultAction | str, role: str | None, account: str | None,
                  target: str | None) -> tuple[VaultAction, str | None, str | None]:
    """(action, role, canonical account) or InvalidInput / InvalidAccount: nothing recorded."""
    try:
        action = VaultAction(action)
    except ValueError:
        raise InvalidInput(f"unknown vault action {action!r}; one of"
                           f" {', '.join(VaultAction)}") from None
    if action in (VaultAction.GRANT, VaultAction.REVOKE):
        name = (role or "").upper().removesuffix("_ROLE")
        if name not in ROLE_NAMES:
            raise InvalidInput(f"unknown role {role!r}; one of {', '.join(ROLE_NAMES)}")
        if not account:
            raise InvalidInput(f"{action.lower()} names the account")
        return action, name, accounts.canonical(account)
    if role is not None or account is not None:
        raise InvalidInput(f"{action.lower()} takes no role or account")
    if (action is VaultAction.UPGRADE) != bool(target):
        raise InvalidInput("an upgrade names its target contract, nothing else does")
    return action, None, None


class VaultOps(Aggregate):
    """The requests made of one asset's vault."""

    class Opened(Aggregate.Created):
        asset_id: UUID
        vault: str

    class Requested(Aggregate.Event):
        number: int
        action: str
        role: str | None
        account: str | None
        target: str | None
        reason: str
        actor: str
        requested_at: datetime

    class Approved(Aggregate.Event):
        number: int
        actor: str

    class Submitted(Aggregate.Event):
        """Signed with the admin-side key and recorded *before* it is broadcast."""

        number: int
        tx_hash: str
        nonce: int
        signed_at: datetime

    class DeploymentSubmitted(Aggregate.Event):
        """An upgrade's new implementation: its creation transaction, signed and recorded
        *before* it is broadcast, so that after a crash its receipt is looked up by this hash
        instead of the implementation being deployed again."""

        number: int
        tx_hash: str
        nonce: int
        signed_at: datetime

    class ImplementationDeployed(Aggregate.Event):
        """The deployment was mined: the implementation the upgrade's transaction names."""

        number: int
        tx_hash: str
        address: str

    class Rejected(Aggregate.Event):
        """The chain refused it for good (reverted): nothing changed; ask again."""

        number: int
        tx_hash: str
        reason: str

    class Settled(Aggregate.Event):
        """The vault's log of it was ingested."""

        number: int
        tx_hash: str

    class Observed(Aggregate.Event):
        """The vault's log of an administration no request of ours sent (ingested)."""

        log: str
        tx_hash: str
        detail: str

    @staticmethod
    def create_id(asset_id: UUID) -> UUID:
        return uuid5(NAMESPACE, f"vault-ops/{asset_id}")

    @classmethod
    def open(cls, asset_id: UUID, vault: str) -> VaultOps:
        return cls._create(cls.Opened, id=cls.create_id(asset_id), asset_id=asset_id,
                           vault=accounts.canonical(vault))

    def __init__(self, asset_id: UUID, vault: str) -> None:
        self.asset_id, self.vault = asset_id, vault
        self.ops: dict[int, VaultOp] = {}
        self.observed: list[ObservedChange] = []

    def op(self, number: int) -> VaultOp:
        try:
            return self.ops[number]
        except KeyError:
            raise NotFound(f"the vault of asset {self.asset_id} has no request {number}"
                           ) from None

    @property
    def open_numbers(self) -> list[int]:
        return [n for n, op in self.ops.items()
                if op.state in {TreasuryState.APPROVED, TreasuryState.SUBMITTED}]

    def request(self, *, action: VaultAction | str, role: str | None, account: str | None,
                target: str | None, reason: str, actor: str, now: datetime) -> int:
        if not actor:
            raise InvalidInput("every command names its actor")
        action, role, account = check_request(action, role, account, target)
        if any(op.state in OPEN_STATES and (op.action, op.role, op.account, op.target)
               == (action, role, account, target) for op in self.ops.values()):
            raise IllegalTransition(f"the same {action.lower()} is already asked for")
        number = len(self.ops)
        self._requested(number=number, action=action.value, role=role, account=account,
                        target=target, reason="".join(c for c in reason if c.isprintable())[:500],
                        actor=actor, requested_at=utc(now, "now"))
        return number

    @event(Requested)
    def _requested(self, number: int, action: str, role: str | None, account: str | None,
                   target: str | None, reason: str, actor: str, requested_at: datetime) -> None:
        self.ops[number] = VaultOp(number, VaultAction(action), role, account, target, reason,
                                   actor, requested_at)

    def approve(self, number: int, actor: str) -> None:
        op = self.op(number)
        if op.state is not TreasuryState.REQUESTED:
            raise IllegalTransition(f"vault request {number} is {op.state}, not awaiting"
                                    " approval")
        if same_principal(actor, op.requested_by):
            raise MakerCheckerViolation(f"{actor} asked for this {op.action.lower()}; another"
                                        " must approve it")
        self._approved(number=number, actor=actor)

    @event(Approved)
    def _approved(self, number: int, actor: str) -> None:
        op = self.ops[number]
        op.state, op.approved_by = TreasuryState.APPROVED, actor

    def record_submission(self, number: int, *, tx_hash: str, nonce: int,
                          signed_at: datetime) -> None:
        op = self.op(number)
        if op.state not in {TreasuryState.APPROVED, TreasuryState.SUBMITTED}:
            raise IllegalTransition(f"vault request {number} is {op.state}: not sending")
        self._submitted(number=number, tx_hash=tx_hash.lower(), nonce=nonce,
                        signed_at=utc(signed_at, "signed at"))

    @event(Submitted)
    def _submitted(self, number: int, tx_hash: str, nonce: int, signed_at: datetime) -> None:
        op = self.ops[number]
        op.state = TreasuryState.SUBMITTED
        op.tx_hashes.append(tx_hash)
        op.nonces.append(nonce)
        op.last_signed_at = signed_at

    def _deploying(self, number: int) -> VaultOp:
        """An upgrade being sent whose implementation is not deployed yet (SUBMITTED too: a
        request whose upgrade was sent by code that did not record its deployment)."""
        op = self.op(number)
        if op.action is not VaultAction.UPGRADE or op.implementation is not None \
                or op.state not in {TreasuryState.APPROVED, TreasuryState.SUBMITTED}:
            raise IllegalTransition(f"vault request {number} ({op.action.lower()}, {op.state})"
                                    " deploys no implementation now")
        return op

    def record_deployment(self, number: int, *, tx_hash: str, nonce: int,
                          signed_at: datetime) -> None:
        self._deploying(number)
        self._deployment_submitted(number=number, tx_hash=tx_hash.lower(), nonce=nonce,
                                   signed_at=utc(signed_at, "signed at"))

    @event(DeploymentSubmitted)
    def _deployment_submitted(self, number: int, tx_hash: str, nonce: int,
                              signed_at: datetime) -> None:
        op = self.ops[number]
        op.deploy_tx_hashes.append(tx_hash)
        op.deploy_nonces.append(nonce)
        op.deploy_signed_at = signed_at

    def record_implementation(self, number: int, *, tx_hash: str, address: str) -> bool:
        """The mined deployment's contract; False if that one is recorded already (another
        job read the same receipt)."""
        op = self.op(number)
        address = accounts.canonical(address)
        if op.implementation == address and tx_hash.lower() in op.deploy_tx_hashes:
            return False
        if tx_hash.lower() not in self._deploying(number).deploy_tx_hashes:
            raise IllegalTransition(f"{tx_hash} is no deployment of vault request {number}")
        self._implementation_deployed(number=number, tx_hash=tx_hash.lower(), address=address)
        return True

    @event(ImplementationDeployed)
    def _implementation_deployed(self, number: int, tx_hash: str, address: str) -> None:
        self.ops[number].implementation = address

    def reject(self, number: int, *, tx_hash: str, reason: str) -> None:
        """Its transaction reverted: the request's own, or its implementation's deployment."""
        op = self.op(number)
        deployment = op.implementation is None and tx_hash.lower() in op.deploy_tx_hashes \
            and op.state in {TreasuryState.APPROVED, TreasuryState.SUBMITTED}
        if not deployment and (op.state is not TreasuryState.SUBMITTED
                               or tx_hash.lower() not in op.tx_hashes):
            raise IllegalTransition(f"{tx_hash} is not a pending transaction of vault request"
                                    f" {number}")
        self._rejected(number=number, tx_hash=tx_hash.lower(), reason=reason[:500])

    @event(Rejected)
    def _rejected(self, number: int, tx_hash: str, reason: str) -> None:
        op = self.ops[number]
        op.state, op.rejection = TreasuryState.REJECTED, reason

    def administered(self, *, log: str, tx_hash: str, detail: str = "") -> bool:
        """The vault's administration `log` in `tx_hash`, ingested: it settles the request
        of ours that sent it, or, when none did, is recorded as observed. False when there
        is nothing new to record (a range ingested again)."""
        if log not in SETTLING_LOG.values():
            raise InvalidInput(f"{log!r} is not a vault administration log")
        tx_hash = tx_hash.lower()
        for op in self.ops.values():
            if tx_hash in op.tx_hashes and SETTLING_LOG[op.action] == log:
                if op.state is TreasuryState.DONE:
                    return False
                self._settled(number=op.number, tx_hash=tx_hash)
                return True
        change = ObservedChange(log, tx_hash, detail[:300])
        if change in self.observed:
            return False
        self._observed(log=change.log, tx_hash=change.tx_hash, detail=change.detail)
        return True

    @event(Settled)
    def _settled(self, number: int, tx_hash: str) -> None:
        op = self.ops[number]
        op.state, op.settled_tx = TreasuryState.DONE, tx_hash

    @event(Observed)
    def _observed(self, log: str, tx_hash: str, detail: str) -> None:
        self.observed.append(ObservedChange(log, tx_hash, detail))
