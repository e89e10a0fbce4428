"""`mass-payout vault deploy` on anvil, signed by a key anvil does not hold unlocked (so the
node cannot have sent anything for it): roles, the admin hand-over, and what it refuses
before sending anything."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from eth_account import Account
from typer.testing import CliRunner
from web3 import Web3

from chain.contracts import DEFAULT_ADMIN_ROLE, at, role
from devtools.devchain import Anvil
from mass_payout.cli import app

pytestmark = pytest.mark.anvil


@dataclass
class Deployer:
    w3: Web3
    env: dict[str, str | None]
    address: str  # the signer's

    def run(self, *args: str, **env: str | None):
        return CliRunner().invoke(app, ["vault", "deploy", *args], env={**self.env, **env})

    def sent(self) -> int:
        return int(self.w3.eth.get_transaction_count(self.address))  # type: ignore[arg-type]


@pytest.fixture
def deployer(database_url) -> Iterator[Deployer]:
    key = Account.create()
    with Anvil(accounts=3) as w3:
        funded = w3.eth.send_transaction({"from": w3.eth.accounts[0], "to": key.address,
                                          "value": 10**20})
        # anvil may answer with the hash before the block is mined: a test reading the head
        # right after must see the funding block already there.
        w3.eth.wait_for_transaction_receipt(funded)
        yield Deployer(w3, {"RPC_URL": str(w3.provider.endpoint_uri),  # type: ignore[attr-defined]
                            "DATABASE_URL": database_url, "CHAIN_ID": "31337",
                            "MASS_PAYOUT_PRIVATE_KEY": key.key.hex(),
                            "MASS_PAYOUT_KEYSTORE": None}, key.address)


def test_deploys_the_vault_signed_with_the_roles_asked_and_hands_the_admin_over(deployer):
    w3 = deployer.w3
    treasury, admin, other = (str(a) for a in w3.eth.accounts[:3])
    done = deployer.run("--treasury", treasury, "--admin", admin.lower(),  # any case accepted
                        "--operator", deployer.address, "--operator", other, "--json")
    assert done.exit_code == 0, done.output
    out = json.loads(done.stdout.splitlines()[-1])
    assert out == {"vault": out["vault"], "tx_hash": out["tx_hash"], "chain_id": 31337,
                   "admin": admin, "operator": [deployer.address, other],
                   "approver": [deployer.address], "associated": []}
    # The vault is the proxy our key created (not an account anvil sent from).
    tx = w3.eth.get_transaction(out["tx_hash"])
    assert tx["from"] == deployer.address and tx.get("to") is None
    assert w3.eth.get_transaction_receipt(out["tx_hash"])["contractAddress"] == out["vault"]
    vault = at(w3, "PayoutVault", out["vault"])
    has = vault.functions.hasRole
    assert vault.functions.treasury().call() == treasury
    assert has(DEFAULT_ADMIN_ROLE, admin).call()
    assert not has(DEFAULT_ADMIN_ROLE, deployer.address).call()  # handed over
    assert all(has(role("OPERATOR"), a).call() for a in (deployer.address, other))
    assert has(role("APPROVER"), deployer.address).call()
    assert not has(role("APPROVER"), other).call()
    # Implementation, proxy, three grants, the admin's grant and the renouncement.
    assert deployer.sent() == 7


def test_by_default_the_signer_holds_every_role_the_service_needs(deployer):
    done = deployer.run("--treasury", str(deployer.w3.eth.accounts[1]))
    assert done.exit_code == 0, done.output
    assert done.stdout.startswith("vault 0x")
    vault = at(deployer.w3, "PayoutVault", done.stdout.split()[1])
    for name in ("DEFAULT_ADMIN", "OPERATOR", "APPROVER"):
        assert vault.functions.hasRole(role(name), deployer.address).call(), name


@pytest.mark.parametrize(("args", "env", "reason"), [
    (["--treasury", "0x1234"], {}, "--treasury: '0x1234' is neither"),
    (["--treasury", "0x" + "ab" * 20, "--operator", "0x" + "Ab" * 20], {},
     "--operator: 0xAbAbAbAbAbAbAbAbAbAbAbAbAbAbAbAbAbAbAbAb fails its EIP-55 checksum"),
    (["--treasury", "0x" + "00" * 20], {}, "--treasury: the zero address"),
    (["--treasury", "0x" + "ab" * 20], {"CHAIN_ID": "296"}, "RPC serves chain 31337, expected"
                                                            " 296"),
    (["--treasury", "0x" + "ab" * 20], {"MASS_PAYOUT_PRIVATE_KEY": "0x12"},
     "the private key is malformed"),
])
def test_bad_input_is_refused_in_one_line_before_anything_is_sent(deployer, args, env, reason):
    head = deployer.w3.eth.block_number
    refused = deployer.run(*args, **env)
    assert refused.exit_code == 2, refused.output
    assert refused.stderr.startswith(f"refused: {reason}"), refused.stderr
    assert refused.stderr.count("\n") == 1 and refused.stdout == ""
    assert deployer.sent() == 0 and deployer.w3.eth.block_number == head


def test_the_vault_is_paused_its_roles_granted_and_revoked_and_upgraded_by_the_cli(deployer):
    w3 = deployer.w3
    done = deployer.run("--treasury", str(w3.eth.accounts[0]), "--json")
    vault = json.loads(done.stdout.splitlines()[-1])["vault"]

    def vault_cli(*args: str):
        return CliRunner().invoke(app, ["vault", *args, "--vault", vault], env=deployer.env)

    proxy = at(w3, "PayoutVault", vault)
    # Without PAUSER the vault would refuse: refused here, nothing sent
    sent = deployer.sent()
    refused = vault_cli("pause")
    assert refused.exit_code == 2 and "AccessControlUnauthorizedAccount" in refused.output
    assert deployer.sent() == sent
    # The admin grants itself PAUSER and UPGRADER; pauses and unpauses
    for name in ("PAUSER", "UPGRADER"):
        assert vault_cli("grant", name, deployer.address).exit_code == 0
        assert proxy.functions.hasRole(role(name), deployer.address).call()
    assert vault_cli("pause").exit_code == 0 and proxy.functions.paused().call()
    assert vault_cli("unpause").exit_code == 0 and not proxy.functions.paused().call()
    # A target with another layout is refused by name, before anything is sent
    sent = deployer.sent()
    other = vault_cli("upgrade", "--to", "Stablecoin")
    assert other.exit_code == 2, other.output
    assert "not storage-compatible" in other.output and "is gone" in other.output
    assert deployer.sent() == sent
    # The upgrade to V2 keeps the layout and goes through
    upgraded = vault_cli("upgrade", "--to", "PayoutVaultV2")
    assert upgraded.exit_code == 0, upgraded.output
    assert at(w3, "PayoutVaultV2", vault).functions.version().call() == 2
    # Revoked, the upgrader role is gone
    assert vault_cli("revoke", "UPGRADER", deployer.address).exit_code == 0
    assert not proxy.functions.hasRole(role("UPGRADER"), deployer.address).call()
