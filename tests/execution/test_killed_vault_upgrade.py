"""kill -9 of the vault's admin-side worker around an upgrade's implementation deployment,
then a restart: exactly one implementation is deployed and the vault is upgraded to it.

The deployment is recorded before it is broadcast (app.vault_deploy), so the restarted worker
finds what the killed one sent by its hash (its receipt names the contract) instead of
deploying again; one recorded but never broadcast is signed again with the same nonce. A real
`mass-payout vault work` process is SIGKILLed at a named line (app.failpoints), on anvil and
the session's PostgreSQL and Redis; the restart is the pass that process makes at start.
"""

from __future__ import annotations

import os
import signal
import subprocess
from datetime import UTC, datetime, timedelta

import pytest
from web3 import Web3

from app import vault_requests
from app.ingest import ingest_vaults
from app.vault_ops import VaultAdmin
from chain.contracts import at, call
from devtools.children import CLI
from domain.treasury import TreasuryState
from tests.chain.test_treasury import funded_key
from tests.chain.test_vault_requests import vault_asset  # noqa: F401  # fixture
from tests.projections.conftest import views  # noqa: F401  # fixture
from tests.projections.stories import select
from tests.projections.test_projections import catch_up_all

UPGRADER_KEY = "0x" + "ad" * 32


@pytest.fixture
def upgrade_approved(ledger, vault_asset, database_url, redis_url, schema):  # noqa: F811
    """An approved request to upgrade the asset's vault to PayoutVaultV2, and the environment
    of the admin-side process whose key holds UPGRADER_ROLE."""
    net, gateway, asset = vault_asset
    upgrader = funded_key(net, "UPGRADER", private_key=UPGRADER_KEY)
    number, _ = vault_requests.request(ledger, asset, action="UPGRADE", role_name=None,
                                       account=None, target="PayoutVaultV2",
                                       reason="release 2", actor="principal:ann/key:a",
                                       now=datetime.now(UTC))
    ledger.approve_vault_op(asset, number, "principal:bob/key:b")
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url,
           "RPC_URL": str(gateway.w3.provider.endpoint_uri),  # type: ignore[attr-defined]
           "MASS_PAYOUT_SCHEMA": schema, "MASS_PAYOUT_PRIVATE_KEY": UPGRADER_KEY}
    env.pop("MASS_PAYOUT_KEYSTORE", None)
    return net, gateway, asset, number, upgrader, env


def creations(w3: Web3, sender: str, after_block: int) -> list[str]:
    """The contract creations `sender` had mined after `after_block`, by hash."""
    return ["0x" + bytes(tx["hash"]).hex()
            for n in range(after_block + 1, w3.eth.block_number + 1)
            for tx in w3.eth.get_block(n, full_transactions=True)["transactions"]
            if tx["from"] == sender and tx["to"] is None]


@pytest.mark.parametrize("failpoint", ["vault-deploy-after-broadcast",
                                       "vault-deploy-after-record"])
def test_a_worker_killed_around_the_implementations_deployment_deploys_it_once(
        ledger, upgrade_approved, failpoint, views, database_url, schema):  # noqa: F811
    net, gateway, asset, number, upgrader, env = upgrade_approved
    block, nonce = net.w3.eth.block_number, gateway.pending_nonce(upgrader.address)
    # The admin-side worker takes the approved upgrade, records its implementation's
    # deployment, (broadcasts it,) and is killed before it records the contract's address
    killed = subprocess.run([CLI, "vault", "work", "--burst"], check=False, timeout=120,
                            env={**env, "MASS_PAYOUT_FAILPOINT": failpoint},
                            capture_output=True, text=True)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    op = ledger.vault_ops(asset).op(number)
    [recorded] = op.deploy_tx_hashes
    assert op.implementation is None and op.tx_hashes == [] and op.state is TreasuryState.APPROVED
    broadcast = failpoint == "vault-deploy-after-broadcast"
    assert creations(net.w3, upgrader.address, block) == ([recorded] if broadcast else [])

    # The worker starts again: what it owes is run first (as `vault work` does at start;
    # no grace period, so a deployment that never left is not waited for here)
    executor = vault_requests.VaultOpExecutor(ledger, gateway, upgrader, grace=timedelta(0))
    assert [o.action for o in vault_requests.resume(ledger, executor)] == ["submitted"]
    ingest_vaults(ledger, gateway, confirmations=0)

    # Exactly one implementation was deployed: the one recorded, which the vault now runs
    [deployed] = creations(net.w3, upgrader.address, block)
    op = ledger.vault_ops(asset).op(number)
    assert op.state is TreasuryState.DONE and op.deploy_tx_hashes[-1] == deployed
    # (found by its hash; or, never broadcast, signed again with the same nonce)
    assert len(op.deploy_tx_hashes) == (1 if broadcast else 2) and recorded in op.deploy_tx_hashes
    contract = net.w3.eth.get_transaction_receipt(deployed)["contractAddress"]
    assert op.implementation == contract == VaultAdmin(gateway, upgrader,
                                                       net.vault.address).implementation()
    assert call(at(net.w3, "PayoutVaultV2", net.vault.address).functions.version()) == 2
    # The signer sent two transactions in all: the deployment and the upgrade
    assert gateway.pending_nonce(upgrader.address) == nonce + 2
    # The read model shows the upgrade's deployment and the implementation it made
    catch_up_all(ledger, views)
    (row,) = select(database_url, schema, "SELECT state, deploy_tx_hash, implementation FROM"
                    " {v}.vault_ops WHERE number = %s", number)
    assert (row["state"], row["deploy_tx_hash"], row["implementation"]) == (
        "DONE", deployed, op.implementation)
    # A run again (a re-delivered job) sends nothing more
    assert executor.execute(asset, number).action == "nothing-to-do"
    assert gateway.pending_nonce(upgrader.address) == nonce + 2
