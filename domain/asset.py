"""Asset: a security token the issuer pays on, as imported from its contract."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain import accounts, ids
from domain.errors import IllegalTransition, InvalidInput
from domain.values import decimals, utc


class AssetKind(StrEnum):
    EQUITY = "EQUITY"
    BOND = "BOND"


@dataclass(frozen=True, slots=True)
class CorporateAction:
    action_id: int
    kind: str  # DIVIDEND | COUPON
    record_date: datetime
    execution_date: datetime
    amount_per_unit: int


class Asset(Aggregate):
    class Imported(Aggregate.Created):
        chain_id: int
        token_address: str
        name: str
        symbol: str
        decimals: int
        kind: str
        payment_token: str
        payment_decimals: int
        vault_address: str | None
        actor: str

    class Paused(Aggregate.Event):
        actor: str
        reason: str

    class Resumed(Aggregate.Event):
        actor: str

    class SyncSwitched(Aggregate.Event):
        enabled: bool
        actor: str

    class VaultLinked(Aggregate.Event):
        vault_address: str
        actor: str

    class DepositReceived(Aggregate.Event):
        """Payment token arrived in the asset's vault (a final chain fact)."""

        token: str
        sender: str
        amount: int
        tx_hash: str

    class SnapshotObserved(Aggregate.Event):
        """The token took a balance snapshot (a record date candidate)."""

        snapshot_id: int
        tx_hash: str
        block_number: int

    class CorporateActionRecorded(Aggregate.Event):
        """A dividend or coupon the token contract declares (ATS corporate action)."""

        action_id: int
        kind: str  # DIVIDEND | COUPON
        record_date: datetime
        execution_date: datetime
        amount_per_unit: int

    @staticmethod
    def create_id(chain_id: int, token_address: str) -> UUID:
        return ids.asset_id(chain_id, token_address)

    @classmethod
    def import_token(cls, *, chain_id: int, token_address: str, name: str, symbol: str,
                     decimals_: int, kind: AssetKind | str, payment_token: str,
                     payment_decimals: int, vault_address: str | None, actor: str) -> Asset:
        """Validate the token's facts, then record them."""
        if type(chain_id) is not int or chain_id <= 0:
            raise InvalidInput(f"chain id must be a positive integer, got {chain_id!r}")
        if not name.strip() or not symbol.strip():
            raise InvalidInput("a token needs a name and a symbol")
        try:
            asset_kind = AssetKind(kind)
        except ValueError:
            raise InvalidInput(f"asset kind must be EQUITY or BOND, got {kind!r}") from None
        return cls(
            chain_id=chain_id,
            token_address=accounts.canonical(token_address),
            name=name.strip(),
            symbol=symbol.strip(),
            decimals=decimals(decimals_, "token decimals"),
            kind=asset_kind.value,
            payment_token=accounts.canonical(payment_token),
            payment_decimals=decimals(payment_decimals, "payment token decimals"),
            vault_address=accounts.canonical(vault_address) if vault_address else None,
            actor=actor,
        )

    @event(Imported)
    def __init__(self, chain_id: int, token_address: str, name: str, symbol: str,
                 decimals: int, kind: str, payment_token: str, payment_decimals: int,
                 vault_address: str | None, actor: str) -> None:
        self.chain_id = chain_id
        self.token_address = token_address
        self.name = name
        self.symbol = symbol
        self.decimals = decimals
        self.kind = AssetKind(kind)
        self.payment_token = payment_token
        self.payment_decimals = payment_decimals
        self.vault_address = vault_address
        self.imported_by = actor
        self.paused = False
        self.sync_enabled = True
        self.corporate_actions: dict[int, CorporateAction] = {}
        self.deposited = 0
        self.snapshots: dict[int, int] = {}  # snapshot id → block

    def pause(self, actor: str, reason: str = "") -> None:
        if self.paused:
            raise IllegalTransition(f"asset {self.symbol} is already paused")
        self._paused(actor=actor, reason=reason)

    @event(Paused)
    def _paused(self, actor: str, reason: str) -> None:
        self.paused = True

    def resume(self, actor: str) -> None:
        if not self.paused:
            raise IllegalTransition(f"asset {self.symbol} is not paused")
        self._resumed(actor=actor)

    @event(Resumed)
    def _resumed(self, actor: str) -> None:
        self.paused = False

    def switch_sync(self, enabled: bool, actor: str) -> None:
        if enabled == self.sync_enabled:
            raise IllegalTransition(f"sync is already {'on' if enabled else 'off'}")
        self._sync_switched(enabled=enabled, actor=actor)

    @event(SyncSwitched)
    def _sync_switched(self, enabled: bool, actor: str) -> None:
        self.sync_enabled = enabled

    def link_vault(self, vault_address: str, actor: str) -> None:
        address = accounts.canonical(vault_address)
        if self.vault_address is not None:
            raise IllegalTransition(f"asset already pays through vault {self.vault_address}")
        self._vault_linked(vault_address=address, actor=actor)

    @event(VaultLinked)
    def _vault_linked(self, vault_address: str, actor: str) -> None:
        self.vault_address = vault_address

    def record_corporate_action(self, *, action_id: int, kind: str, record_date: datetime,
                                execution_date: datetime, amount_per_unit: int) -> bool:
        """Record an action read from the token; True if it was new. Re-reading is a no-op."""
        if kind not in {"DIVIDEND", "COUPON"}:
            raise InvalidInput(f"corporate action kind must be DIVIDEND or COUPON, got {kind!r}")
        if type(amount_per_unit) is not int or amount_per_unit < 0:
            raise InvalidInput("a corporate action's amount per unit is a non-negative integer")
        record, execution = utc(record_date, "record date"), utc(execution_date, "execution date")
        known = self.corporate_actions.get(action_id)
        if known is not None:
            same = (known.kind, known.record_date, known.execution_date,
                    known.amount_per_unit) == (kind, record, execution, amount_per_unit)
            if not same:
                raise IllegalTransition(f"corporate action {action_id} changed on-chain")
            return False
        self._corporate_action_recorded(action_id=action_id, kind=kind, record_date=record,
                                        execution_date=execution, amount_per_unit=amount_per_unit)
        return True

    @event(CorporateActionRecorded)
    def _corporate_action_recorded(self, action_id: int, kind: str, record_date: datetime,
                                   execution_date: datetime, amount_per_unit: int) -> None:
        self.corporate_actions[action_id] = CorporateAction(
            action_id, kind, record_date, execution_date, amount_per_unit)

    def record_deposit(self, *, token: str, sender: str, amount: int, tx_hash: str) -> None:
        if accounts.canonical(token) != self.payment_token:
            raise InvalidInput(f"{token} is not this asset's payment token")
        self._deposit_received(token=self.payment_token, sender=accounts.canonical(sender),
                               amount=amount, tx_hash=tx_hash)

    @event(DepositReceived)
    def _deposit_received(self, token: str, sender: str, amount: int, tx_hash: str) -> None:
        self.deposited += amount

    def record_snapshot(self, *, snapshot_id: int, tx_hash: str, block_number: int) -> None:
        if snapshot_id in self.snapshots:
            raise IllegalTransition(f"snapshot {snapshot_id} is already recorded")
        self._snapshot_observed(snapshot_id=snapshot_id, tx_hash=tx_hash,
                                block_number=block_number)

    @event(SnapshotObserved)
    def _snapshot_observed(self, snapshot_id: int, tx_hash: str, block_number: int) -> None:
        self.snapshots[snapshot_id] = block_number
