"""Vault administration: pause and unpause, grant and revoke roles, and a checked upgrade.

Each is one transaction signed by the calling process's key (the admin's for roles, the
pauser's, the upgrader's), asked of the vault first with an `eth_call` so that a key without
the role, or a call the vault would refuse, is a clear error before anything is sent.

An upgrade is refused before any transaction unless the new implementation's storage layout
keeps the current one (solc's `storageLayout`, written by contracts/build.py to
chain/artifacts/layouts): the vault keeps its state in ERC-7201 namespaced structs, so for
every namespace the current implementation uses, the new one must declare the same struct
whose members start with the old members, each at the same slot and offset with the same
type; every struct reached from them, at any depth (by value, through mappings and arrays:
a distribution's record, a struct inside it), likewise. The error names the first member that
breaks it. Hand-written because the one maintained checker
(OpenZeppelin's upgrades-core) is a Node tool over a Hardhat/Foundry build, not our build.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from web3 import Web3

from chain.contracts import ARTIFACTS, DEFAULT_ADMIN_ROLE, ROLES, at, creation_data, role
from chain.gateway import EvmGateway
from chain.sending import deploy_and_wait, reason_of, send_and_wait
from chain.signer import Signer

LAYOUTS = ARTIFACTS / "layouts"
# The implementation's address, ERC-1967: keccak256("eip1967.proxy.implementation") - 1.
IMPLEMENTATION_SLOT = 0x360894A13BA1A3210667C828492DB98DCA3E2076CC3735A920A3CA505D382BBC


class VaultOpRefused(Exception):
    """Refused before anything was sent: bad input, an incompatible layout, or the vault
    itself would refuse it (its decoded error)."""


@dataclass(frozen=True, slots=True)
class VaultOpDone:
    action: str
    tx_hash: str
    detail: str = ""


def layout_of(name: str, directory: Path = LAYOUTS) -> dict[str, Any]:
    path = directory / f"{name}.json"
    if not path.exists():
        raise VaultOpRefused(f"no storage layout for {name} (contracts/build.py writes"
                             f" {path.relative_to(directory.parent.parent)})")
    layout: dict[str, Any] = json.loads(path.read_text())
    return layout


STRUCT = re.compile(r"struct [A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)*")


def _members_prefix(where: str, old: list[dict[str, Any]], new: list[dict[str, Any]],
                    old_structs: dict[str, Any], new_structs: dict[str, Any],
                    seen: set[str] | None = None) -> str | None:
    """The first member of `old` that `new` does not keep, as a sentence; None if all kept.

    Recursive: every struct a kept member reaches (by value, as a mapping's value or an
    array's element, at any depth) must keep its own members too; `seen` stops a struct that
    reaches itself (through a mapping) from being walked twice.
    """
    seen = set() if seen is None else seen
    for i, member in enumerate(old):
        name = f"{where}.{member['label']}"
        if i >= len(new):
            return f"{name} ({member['type']} at slot {member['slot']}) is gone"
        kept = new[i]
        for key in ("label", "slot", "offset", "type"):
            if kept[key] != member[key]:
                return (f"{name}: {key} was {member[key]!r}, the new implementation has"
                        f" {kept[key]!r}")
    for member in old:
        for label in STRUCT.findall(member["type"]):
            if label in seen:
                continue
            seen.add(label)
            if label not in old_structs:
                continue  # not recorded by this build: nothing to compare it with
            if label not in new_structs:
                return f"{label} (reached by {where}.{member['label']}) is gone"
            broken = _members_prefix(label.removeprefix("struct "), old_structs[label],
                                     new_structs[label], old_structs, new_structs, seen)
            if broken:
                return broken
    return None


def incompatibility(old: dict[str, Any], new: dict[str, Any]) -> str | None:
    """Why the new layout does not keep the old one (first member), or None."""
    broken = _members_prefix("(state)", old.get("storage", []), new.get("storage", []),
                             old.get("structs", {}), new.get("structs", {}))
    if broken:
        return broken
    for namespace, space in sorted(old.get("namespaces", {}).items()):
        found = new.get("namespaces", {}).get(namespace)
        if found is None:
            return f"namespace {namespace} ({space['struct']}) is gone"
        broken = _members_prefix(space["struct"], space["members"], found["members"],
                                 old.get("structs", {}), new.get("structs", {}))
        if broken:
            return f"{broken} (namespace {namespace})"
    return None


def check_upgrade(current: str, target: str, directory: Path = LAYOUTS) -> None:
    """VaultOpRefused naming the first incompatible member, unless `target` keeps `current`."""
    why = incompatibility(layout_of(current, directory), layout_of(target, directory))
    if why:
        raise VaultOpRefused(f"{target} is not storage-compatible with {current}: {why}")


class VaultAdmin:
    """The vault's administrative calls, each asked of the vault before it is sent."""

    def __init__(self, gateway: EvmGateway, signer: Signer, vault: str) -> None:
        self.gateway, self.signer = gateway, signer
        self.vault = at(gateway.w3, "PayoutVault", vault)

    def _send(self, action: str, fn: str, *args: Any, detail: str = "") -> VaultOpDone:
        data = self.vault.encode_abi(fn, args=list(args))
        try:
            self.gateway.w3.eth.call({"from": self.signer.address,
                                      "to": self.vault.address, "data": data})
        except Exception as err:  # noqa: BLE001  # the vault's refusal, decoded
            raise VaultOpRefused(f"the vault would refuse {action}: {reason_of(err)}") from None
        return VaultOpDone(action, send_and_wait(self.gateway, self.signer,
                                                 to=self.vault.address, data=data), detail)

    def paused(self) -> bool:
        return bool(self.vault.functions.paused().call())

    def pause(self) -> VaultOpDone:
        return self._send("pause", "pause")

    def unpause(self) -> VaultOpDone:
        return self._send("unpause", "unpause")

    def grant(self, role_name: str, account: str) -> VaultOpDone:
        return self._send(f"grant {role_name}", "grantRole", _role(role_name), account,
                          detail=account)

    def revoke(self, role_name: str, account: str) -> VaultOpDone:
        return self._send(f"revoke {role_name}", "revokeRole", _role(role_name), account,
                          detail=account)

    def allow_sweep_account(self, account: str, allowed: bool = True) -> VaultOpDone:
        """Allow (or disallow) `account` as a `sweepTo` recipient (the vault's admin)."""
        return self._send(f"{'allow' if allowed else 'disallow'} sweep account",
                          "setSweepAccount", account, allowed, detail=account)

    def has_role(self, role_name: str, account: str) -> bool:
        return bool(self.vault.functions.hasRole(_role(role_name), account).call())

    def implementation(self) -> str:
        raw = self.gateway.w3.eth.get_storage_at(self.vault.address,
                                                 IMPLEMENTATION_SLOT)
        return self.gateway.w3.to_checksum_address(bytes(raw)[-20:])

    def upgrade(self, *, current: str, target: str, layouts: Path = LAYOUTS) -> VaultOpDone:
        """Check the layouts, deploy `target`'s implementation, then `upgradeToAndCall` it."""
        check_upgrade(current, target, layouts)  # before anything is sent
        if not self.has_role("UPGRADER", self.signer.address):
            raise VaultOpRefused(f"{self.signer.address} does not hold the vault's"
                                 " UPGRADER_ROLE")
        implementation, _ = deploy_and_wait(self.gateway, self.signer,
                                            data=creation_data(self.gateway.w3, target))
        return self._send(f"upgrade to {target}", "upgradeToAndCall", implementation, b"",
                          detail=implementation)


@dataclass(frozen=True, slots=True)
class VaultStatus:
    vault: str
    paused: bool
    implementation: str
    version: int
    treasury: str
    roles: dict[str, bool] | None  # of the account asked about


def vault_status(w3: Web3, vault: str, account: str | None = None) -> VaultStatus:
    """The vault as the chain has it now (reads only)."""
    from domain import accounts

    who = accounts.canonical(account) if account is not None else None  # InvalidAccount: 422
    contract = at(w3, "PayoutVault", vault)
    raw = w3.eth.get_storage_at(contract.address, IMPLEMENTATION_SLOT)
    roles = None if who is None else {
        name: bool(contract.functions.hasRole(_role(name), who).call())
        for name in ("DEFAULT_ADMIN", *ROLES)}
    return VaultStatus(contract.address, bool(contract.functions.paused().call()),
                       w3.to_checksum_address(bytes(raw)[-20:]),
                       int(contract.functions.version().call()),
                       str(contract.functions.treasury().call()), roles)


def _role(name: str) -> bytes:
    name = name.upper().removesuffix("_ROLE")
    if name == "DEFAULT_ADMIN":
        return DEFAULT_ADMIN_ROLE
    if name not in ROLES:
        raise VaultOpRefused(f"unknown role {name!r}; one of DEFAULT_ADMIN, {', '.join(ROLES)}")
    return role(name)
