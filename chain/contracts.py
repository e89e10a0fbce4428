"""Typed helpers over the committed artifacts: load, deploy, call, and decode custom errors."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.types import TxReceipt

from chain.errors import ChainError, ContractRevertError, reverts, translate
from chain.gateway import EvmGateway
from chain.sending import deploy_and_wait, send_and_wait
from chain.signer import Signer

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
ROLES = ("APPROVER", "OPERATOR", "PAUSER", "TREASURER", "UPGRADER")
DEFAULT_ADMIN_ROLE = b"\0" * 32
# ATS IFactory.SecurityType values for the reference token: BondVariableRate (coupons set one by
# one, each with its rate) and Equity.
BOND, EQUITY = 0, 1


def role(name: str) -> bytes:
    """`keccak256("<NAME>_ROLE")`, or the zero word for DEFAULT_ADMIN."""
    return DEFAULT_ADMIN_ROLE if name == "DEFAULT_ADMIN" else keccak(text=f"{name}_ROLE")


@dataclass(frozen=True, slots=True)
class Artifact:
    name: str
    abi: list[dict[str, Any]]
    bytecode: str
    deployed_bytecode: str


@cache
def load_artifact(name: str) -> Artifact:
    data = json.loads((ARTIFACTS / f"{name}.json").read_text())
    return Artifact(name, data["abi"], data["bytecode"], data["deployedBytecode"])



def send(fn: ContractFunction, sender: str, *, gas: int | None = None) -> TxReceipt:
    """Sends from an unlocked dev account; a revert raises ContractRevertError, decoded."""
    w3 = fn.w3
    try:
        limit = gas if gas is not None else fn.estimate_gas({"from": sender}) * 6 // 5 + 20_000
        tx_hash = fn.transact({"from": sender, "gas": limit})
    except reverts() as err:
        raise translate(err) from err
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=120)
    if receipt["status"] != 1:
        try:  # replay at the same block to get the return data
            fn.call({"from": sender, "gas": limit}, block_identifier=receipt["blockNumber"] - 1)
        except reverts() as err:
            raise translate(err) from err
        raise ContractRevertError("OutOfGasOrUnknown", (receipt["gasUsed"],), b"")
    return receipt


def call(fn: ContractFunction, sender: str | None = None) -> Any:
    try:
        return fn.call({"from": sender} if sender else {})
    except reverts() as err:
        raise translate(err) from err


def at(w3: Web3, name: str, address: str) -> Contract:
    return w3.eth.contract(address=to_checksum_address(address), abi=load_artifact(name).abi)


def deploy(w3: Web3, name: str, *args: Any, sender: str) -> Contract:
    art = load_artifact(name)
    factory = w3.eth.contract(abi=art.abi, bytecode=art.bytecode)
    tx_hash = factory.constructor(*args).transact({"from": sender})
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=120)
    if receipt["status"] != 1 or not receipt["contractAddress"]:
        raise ContractRevertError("DeploymentFailed", (name,), b"")
    return at(w3, name, receipt["contractAddress"])


def creation_data(w3: Web3, name: str, *args: Any) -> str:
    """The artifact's bytecode with its constructor arguments: a creation transaction's data."""
    art = load_artifact(name)
    data: str = w3.eth.contract(abi=art.abi, bytecode=art.bytecode).constructor(
        *args).data_in_transaction
    return data


def vault_proxy_args(w3: Web3, implementation: str, *, admin: str, treasury: str,
                     name: str = "PayoutVault") -> tuple[str, str]:
    """The ERC1967Proxy's constructor arguments: the implementation and its `initialize` call,
    run by the proxy's constructor so that nobody can initialize the vault before us."""
    return implementation, at(w3, name, implementation).encode_abi(
        "initialize", args=[admin, treasury])


def deploy_vault(w3: Web3, *, admin: str, treasury: str,
                 grants: dict[str, Sequence[str]] | None = None, name: str = "PayoutVault",
                 hts_tokens: Sequence[str] = ()) -> Contract:
    """Implementation + ERC1967 proxy initialized atomically; returns the proxy with the vault ABI.

    `grants` maps a role name ("OPERATOR", ...) to the accounts that get it, granted by `admin`.
    `hts_tokens`: HTS payment tokens the vault associates itself with (on Hedera only; the
    caller decides, `deploy_vault_signed` decides from the network profile).
    Sent from an unlocked dev account; `deploy_vault_signed` is the same for a real network.
    """
    impl = deploy(w3, name, sender=admin)
    proxy = deploy(w3, "ERC1967Proxy",
                   *vault_proxy_args(w3, impl.address, admin=admin, treasury=treasury,
                                     name=name), sender=admin)
    vault = at(w3, name, proxy.address)
    for token in hts_tokens:
        send(vault.functions.associateToken(to_checksum_address(token)), admin)
    for role_name, accounts in (grants or {}).items():
        for account in accounts:
            send(vault.functions.grantRole(role(role_name), account), admin)
    return vault


@dataclass(frozen=True, slots=True)
class VaultDeployment:
    address: str  # the proxy: the vault's address
    tx_hash: str  # the proxy's creation, which also initialized the vault
    implementation: str
    associated: tuple[str, ...] = ()  # HTS tokens the vault associated itself with (Hedera)


class HtsTokensRequired(ChainError, ValueError):
    """A vault deployed on Hedera without a payment token to associate could not be funded."""


def deploy_vault_signed(gateway: EvmGateway, signer: Signer, *, admin: str, treasury: str,
                        grants: dict[str, Sequence[str]], name: str = "PayoutVault",
                        payment_tokens: Sequence[str] = ()) -> VaultDeployment:
    """`deploy_vault`, every transaction signed by `signer` (a keystore, a custodian).

    Only an admin can grant roles, so the signer initializes the vault as its admin, grants
    `grants`, and, when `admin` is another account, grants it DEFAULT_ADMIN and renounces its
    own: at the end the signer holds only the roles `grants` gives it.

    On a Hedera network profile (the gateway's, checked against the node's chain id) the vault
    then associates itself with each of `payment_tokens` through the HTS system contract, while
    the signer is still its admin; a refused association reverts and the deploy stops there.
    On any other chain nothing is called for them.
    """
    hedera = gateway.network.hedera
    if hedera and not payment_tokens:
        raise HtsTokensRequired("on Hedera the vault must associate with its payment token:"
                                " name it")
    w3 = gateway.w3
    implementation, _ = deploy_and_wait(gateway, signer, data=creation_data(w3, name))
    address, tx_hash = deploy_and_wait(gateway, signer, data=creation_data(
        w3, "ERC1967Proxy", *vault_proxy_args(w3, implementation, admin=signer.address,
                                              treasury=treasury, name=name)))
    vault = at(w3, name, address)
    associated = tuple(to_checksum_address(t) for t in payment_tokens) if hedera else ()
    for token in associated:
        send_and_wait(gateway, signer, to=address,
                      data=vault.encode_abi("associateToken", args=[token]))
    calls = [("grantRole", role(r), a) for r, accounts in grants.items() for a in accounts]
    if to_checksum_address(admin) != signer.address:
        calls += [("grantRole", DEFAULT_ADMIN_ROLE, admin),
                  ("renounceRole", DEFAULT_ADMIN_ROLE, signer.address)]
    for fn, role_id, account in calls:
        send_and_wait(gateway, signer, to=address,
                      data=vault.encode_abi(fn, args=[role_id, account]))
    return VaultDeployment(address, tx_hash, implementation, associated)


def associate_vault_signed(gateway: EvmGateway, signer: Signer, *, vault: str,
                           tokens: Sequence[str]) -> list[str]:
    """On Hedera: the vault (whose admin `signer` is) associates itself with each HTS token,
    e.g. a payment token added after its deploy; returns their transaction hashes. Refused
    (a revert, nothing sent) for a token the token service refuses."""
    if not gateway.network.hedera:
        raise HtsTokensRequired("only a Hedera network profile has HTS tokens to associate")
    contract = at(gateway.w3, "PayoutVault", vault)
    return [send_and_wait(gateway, signer, to=contract.address, data=contract.encode_abi(
        "associateToken", args=[to_checksum_address(t)])) for t in tokens]


def upgrade_vault(vault: Contract, *, sender: str, name: str = "PayoutVaultV2") -> Contract:
    impl = deploy(vault.w3, name, sender=sender)
    send(vault.functions.upgradeToAndCall(impl.address, b""), sender)
    return at(vault.w3, name, vault.address)


def deploy_stablecoin(w3: Web3, *, owner: str, name: str = "Test USD",
                      symbol: str = "TUSD") -> Contract:
    return deploy(w3, "Stablecoin", name, symbol, sender=owner)


def deploy_security_token(w3: Web3, *, admin: str, name: str = "Acme Bond",
                          symbol: str = "ACME", decimals: int = 2, kind: int = BOND,
                          maturity_date: int = 0, nominal_value: int = 0,
                          nominal_value_decimals: int = 6) -> Contract:
    """`nominal_value` in 10^-nominal_value_decimals currency units (ATS's nominal value)."""
    return deploy(w3, "SecurityToken", name, symbol, decimals, kind, maturity_date,
                  nominal_value, nominal_value_decimals, admin, sender=admin)
