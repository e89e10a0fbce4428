"""Asset: a security token the issuer pays on, as imported from its contract."""

from __future__ import annotations

from enum import StrEnum
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain import accounts, ids
from domain.errors import IllegalTransition, InvalidInput
from domain.values import decimals


class AssetKind(StrEnum):
    EQUITY = "EQUITY"
    BOND = "BOND"


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
