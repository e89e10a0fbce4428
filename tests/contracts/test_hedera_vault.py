"""The vault on Hedera: it associates itself with its HTS payment token in the deploy, the
token service's answer is checked, and on any other chain nothing is asked of it.

Anvil plays Hedera's local node here: its chain id set to 298 and, at 0x167, the runtime code of
`HtsPrecompileStandIn` — a STAND-IN for Hedera's token service system contract (this machine
cannot reach a Hedera network), answering with Hedera's response codes. The deploy runs as
operators run it, `mass-payout vault deploy`, signed by a key anvil does not hold.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from eth_account import Account
from hiero_sdk_python.response_code import ResponseCode
from typer.testing import CliRunner
from web3 import Web3
from web3.contract import Contract

from chain.contracts import at, call, deploy_stablecoin, deploy_vault, load_artifact, send
from chain.errors import ContractRevertError
from chain.gateway import EvmGateway
from devtools.devchain import Anvil
from domain.network import network_profile
from mass_payout.cli import app

pytestmark = pytest.mark.anvil

HTS_ADDRESS = "0x0000000000000000000000000000000000000167"
HEDERA_LOCAL, ANVIL = 298, 31337


@dataclass
class Node:
    w3: Web3
    hts: Contract  # the stand-in at 0x167
    usd: str  # plays the HTS payment token (the stand-in does not look at it)
    env: dict[str, str | None]
    signer: str

    def as_chain(self, chain_id: int) -> None:
        self.w3.provider.make_request("anvil_setChainId", [chain_id])  # type: ignore[arg-type]

    def deploy(self, *args: str, **env: str | None):
        return CliRunner().invoke(app, ["vault", "deploy", "--treasury", self.w3.eth.accounts[1],
                                        *args], env={**self.env, **env})

    def sent(self) -> int:
        return int(self.w3.eth.get_transaction_count(self.signer))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def _node(database_url: str) -> Iterator[Node]:
    key = Account.create()
    with Anvil(accounts=3) as w3:
        # The stand-in's runtime code where Hedera serves its token service.
        stand_in = load_artifact("HtsPrecompileStandIn").deployed_bytecode
        w3.provider.make_request("anvil_setCode", [HTS_ADDRESS, stand_in])  # type: ignore[arg-type]
        w3.eth.send_transaction({"from": w3.eth.accounts[0], "to": key.address, "value": 10**20})
        usd = deploy_stablecoin(w3, owner=w3.eth.accounts[0]).address
        yield Node(w3, at(w3, "HtsPrecompileStandIn", HTS_ADDRESS), usd,
                   {"RPC_URL": str(w3.provider.endpoint_uri),  # type: ignore[attr-defined]
                    "DATABASE_URL": database_url, "CHAIN_ID": None,
                    "MASS_PAYOUT_PRIVATE_KEY": key.key.hex(), "MASS_PAYOUT_KEYSTORE": None},
                   key.address)


@pytest.fixture
def node(_node: Node) -> Iterator[Node]:
    snapshot = _node.w3.testing.snapshot()
    try:
        yield _node
    finally:
        _node.w3.testing.revert(snapshot)
        _node.as_chain(ANVIL)


def test_on_hedera_the_deploy_associates_the_vault_with_its_payment_token(node):
    node.as_chain(HEDERA_LOCAL)
    done = node.deploy("--payment-token", node.usd.lower(), "--json",
                       CHAIN_NETWORK="hedera-local")
    assert done.exit_code == 0, done.output
    out = json.loads(done.stdout.splitlines()[-1])
    assert out["chain_id"] == HEDERA_LOCAL and out["associated"] == [node.usd]
    # The token service was asked once, by the vault for itself, and recorded it.
    assert call(node.hts.functions.calls()) == 1
    assert call(node.hts.functions.isAssociated(out["vault"], node.usd))
    # Asked again (a later token, a deploy re-run), "already associated" is not a failure.
    vault = at(node.w3, "PayoutVault", out["vault"])
    node.w3.provider.make_request("anvil_impersonateAccount", [node.signer])  # type: ignore[arg-type]
    receipt = send(vault.functions.associateToken(node.usd), node.signer)  # the signer is admin
    (event,) = vault.events.HtsTokenAssociated().process_receipt(receipt)
    assert (event.args.token, event.args.responseCode) == (
        node.usd, ResponseCode.TOKEN_ALREADY_ASSOCIATED_TO_ACCOUNT.value)


def test_a_refused_association_reverts_the_deploy_with_the_response_code(node):
    deleted = ResponseCode.TOKEN_WAS_DELETED.value
    send(node.hts.functions.setFailureCode(deleted), node.w3.eth.accounts[0])
    node.as_chain(HEDERA_LOCAL)  # after anvil's own accounts have sent (they sign as 31337)
    done = node.deploy("--payment-token", node.usd, CHAIN_NETWORK="hedera-local")
    # The deploy stops at the association, says why, and leaves no associated vault.
    assert done.exit_code == 1
    assert f"HtsAssociationFailed('{node.usd}', {deleted})" in done.stderr, done.stderr
    assert "\n" not in done.stderr.strip()
    assert not any(call(node.hts.functions.isAssociated(a, node.usd))
                   for a in (node.signer, *node.w3.eth.accounts))


def test_on_another_chain_the_token_service_is_never_called(node):
    # A generic EVM chain (anvil's id) with a payment token named: nothing asked of 0x167.
    done = node.deploy("--payment-token", node.usd, "--json", CHAIN_NETWORK="evm")
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout.splitlines()[-1])["associated"] == []
    assert call(node.hts.functions.calls()) == 0


@pytest.mark.parametrize(("chain_id", "network", "token", "says"), [
    (HEDERA_LOCAL, "evm", True, "set CHAIN_NETWORK=hedera-local"),  # Hedera taken for an EVM
    (ANVIL, "hedera-testnet", True, "runs on chain 296, the node serves chain 31337"),
    (HEDERA_LOCAL, "hedera-local", False, "--payment-token"),  # no token to associate
])
def test_a_profile_that_does_not_fit_the_node_is_refused_before_sending(node, chain_id, network,
                                                                       token, says):
    node.as_chain(chain_id)
    before = node.sent()
    done = node.deploy(*(["--payment-token", node.usd] if token else []), CHAIN_NETWORK=network)
    assert done.exit_code == 2 and says in done.stderr, done.output
    assert node.sent() == before


def test_only_the_admin_associates_and_not_where_no_token_service_answers(node):
    w3, admin, outsider = node.w3, node.w3.eth.accounts[0], node.w3.eth.accounts[2]
    vault = deploy_vault(w3, admin=admin, treasury=w3.eth.accounts[1])
    with pytest.raises(ContractRevertError) as err:
        send(vault.functions.associateToken(node.usd), outsider)
    assert err.value.name == "AccessControlUnauthorizedAccount"
    # With no code at 0x167 (any other EVM chain), asking reverts instead of passing silently.
    w3.provider.make_request("anvil_setCode", [HTS_ADDRESS, "0x"])  # type: ignore[arg-type]
    with pytest.raises(ContractRevertError) as err:
        send(vault.functions.associateToken(node.usd), admin)
    assert err.value.name == "HtsUnavailable"


def test_on_the_relay_profile_the_nonce_is_the_latest_and_the_gas_price_is_fixed(node,
                                                                               database_url):
    w3, sender = node.w3, node.w3.eth.accounts[0]
    # A transaction waits in anvil's pool (Hedera's relay has none).
    w3.provider.make_request("evm_setAutomine", [False])  # type: ignore[arg-type]
    try:
        w3.eth.send_transaction({"from": sender, "to": w3.eth.accounts[1], "value": 1})
        mined = w3.eth.get_transaction_count(sender, "latest")
        evm = EvmGateway(w3, expected_chain_id=None, database_url=database_url)
        assert evm.pending_nonce(sender) == mined + 1  # counted with the pool
        node.as_chain(HEDERA_LOCAL)
        relay = EvmGateway(w3, expected_chain_id=None, database_url=database_url,
                           network=network_profile("hedera-local"))
        assert relay.pending_nonce(sender) == mined  # no pool to count
        # One price, offered whole: no EIP-1559 tip bidding.
        fees = relay.fees()
        assert fees.max_fee_per_gas == fees.max_priority_fee_per_gas == w3.eth.gas_price * 11 // 10
    finally:
        w3.provider.make_request("anvil_dropAllTransactions", [])  # type: ignore[arg-type]
        w3.provider.make_request("evm_setAutomine", [True])  # type: ignore[arg-type]


def test_a_payment_token_added_later_is_associated_by_the_admin_and_only_on_hedera(node):
    later = deploy_stablecoin(node.w3, owner=node.w3.eth.accounts[0], symbol="EURX").address
    node.as_chain(HEDERA_LOCAL)
    deployed = node.deploy("--payment-token", node.usd, "--json", CHAIN_NETWORK="hedera-local")
    vault = json.loads(deployed.stdout.splitlines()[-1])["vault"]
    run = CliRunner().invoke(app, ["vault", "associate", "--vault", vault,
                                   "--payment-token", later],
                             env={**node.env, "CHAIN_NETWORK": "hedera-local"})
    assert run.exit_code == 0, run.output
    assert f"associated with HTS {later}" in run.stdout
    assert call(node.hts.functions.isAssociated(vault, later))
    # On a generic EVM profile the command refuses before asking anything.
    node.as_chain(ANVIL)
    refused = CliRunner().invoke(app, ["vault", "associate", "--vault", vault,
                                       "--payment-token", later],
                                 env={**node.env, "CHAIN_NETWORK": "evm"})
    assert refused.exit_code == 2 and "only Hedera" in refused.stderr
