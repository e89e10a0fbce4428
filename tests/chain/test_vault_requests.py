"""Vault administration asked for through the API's command (no key in the API): refused
when bad (nothing recorded), approved by another person, sent once by the admin-side key,
settled by the vault's own logs through ingestion, on anvil."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app import vault_requests
from app.importing import import_asset
from app.ingest import ingest_vaults
from app.vault_ops import VaultAdmin
from chain.contracts import at, call, role
from chain.gateway import EvmGateway
from devtools.devchain import Anvil
from devtools.devnet import deploy_devnet
from domain.errors import IllegalTransition, InvalidInput, MakerCheckerViolation
from domain.treasury import TreasuryState
from projections.store import views_datastore
from tests.chain.test_treasury import funded_key
from tests.projections.stories import select
from tests.projections.test_retries import catch_up_all


@pytest.fixture
def vault_asset(ledger, database_url):
    with Anvil(accounts=3) as w3:
        net = deploy_devnet(w3, holders=2)
        gateway = EvmGateway(w3, expected_chain_id=None, database_url=database_url)
        asset = import_asset(ledger, w3, chain_id=gateway.chain_id,
                             token_address=net.token.address, payment_token=net.usd.address,
                             payment_decimals=6, vault_address=net.vault.address,
                             actor="importer").asset_id
        yield net, gateway, asset
        gateway.close()


def ask(ledger, asset, action, **kw):
    return vault_requests.request(ledger, asset, action=action, role_name=kw.get("role"),
                                  account=kw.get("account"), target=kw.get("target"),
                                  reason="ops", actor="principal:ann/key:a",
                                  now=datetime.now(UTC))[0]


def test_pause_grant_and_upgrade_go_through_four_eyes_and_come_back_from_the_vault(
        ledger, vault_asset):
    net, gateway, asset = vault_asset
    # Bad input is refused before anything is recorded: an unknown role, a malformed
    # account, an upgrade whose storage layout does not keep the vault's
    for action, kw, why in (("GRANT", {"role": "KING", "account": net.admin}, "unknown role"),
                            ("GRANT", {"role": "PAUSER", "account": "0x12"}, "neither an EVM"),
                            ("UPGRADE", {"target": "Stablecoin"}, "not storage-compatible"),
                            ("EXPLODE", {}, "unknown vault action")):
        with pytest.raises(InvalidInput, match=why):
            ask(ledger, asset, action, **kw)
    assert ledger.vault_ops(asset) is None
    # Ann asks for a pause, a grant and an upgrade; she may not approve her own
    newcomer = funded_key(net).address
    pause = ask(ledger, asset, "PAUSE")
    grant = ask(ledger, asset, "GRANT", role="treasurer", account=newcomer.lower())
    upgrade = ask(ledger, asset, "UPGRADE", target="PayoutVaultV2")
    with pytest.raises(IllegalTransition, match="already asked"):
        ask(ledger, asset, "PAUSE")
    with pytest.raises(MakerCheckerViolation):
        ledger.approve_vault_op(asset, pause, "principal:ann/key:b")
    # A key without the vault's roles is refused by the vault; nothing is recorded
    for number in (pause, grant, upgrade):
        ledger.approve_vault_op(asset, number, "principal:bob/key:c")
    outsider = vault_requests.VaultOpExecutor(ledger, gateway, funded_key(net))
    refused = outsider.execute(asset, pause)
    assert refused.action == "refused" and "AccessControl" in refused.detail, refused
    assert ledger.vault_ops(asset).op(pause).tx_hashes == []
    # The admin-side key (PAUSER, UPGRADER, admin) sends each, found open in the ledger
    admin_key = funded_key(net, "PAUSER", "UPGRADER", "DEFAULT_ADMIN")
    executor = vault_requests.VaultOpExecutor(ledger, gateway, admin_key)
    assert list(vault_requests.open_vault_ops(ledger)) == [(asset, n)
                                                          for n in (pause, grant, upgrade)]
    assert [o.action for o in vault_requests.resume(ledger, executor)] == ["submitted"] * 3
    # Run again (a re-delivered job): mined, nothing more sent
    assert executor.execute(asset, pause).action == "mined"
    # The vault's logs settle them; the chain agrees
    ingest_vaults(ledger, gateway, confirmations=0)
    ops = ledger.vault_ops(asset)
    assert [ops.op(n).state for n in (pause, grant, upgrade)] == [TreasuryState.DONE] * 3
    assert list(vault_requests.open_vault_ops(ledger)) == []
    assert call(net.vault.functions.paused())
    assert call(net.vault.functions.hasRole(role("TREASURER"), newcomer))
    assert call(at(net.w3, "PayoutVaultV2", net.vault.address).functions.version()) == 2


def test_an_admins_own_call_on_the_vault_is_recorded_as_observed_and_listed(
        ledger, vault_asset, database_url, schema):
    """The CLI's `vault pause` and a role granted by hand go around the four-eyes requests:
    the ledger still holds them (from the vault's log), once, marked as not requested here."""
    net, gateway, asset = vault_asset
    admin_key = funded_key(net, "PAUSER", "DEFAULT_ADMIN")
    newcomer = funded_key(net).address
    admin = VaultAdmin(gateway, admin_key, net.vault.address)
    paused = admin.pause().tx_hash.lower()
    granted = admin.grant("TREASURER", newcomer).tx_hash.lower()
    ingest_vaults(ledger, gateway, confirmations=0)
    ops = ledger.vault_ops(asset)
    assert [(c.log, c.detail) for c in ops.observed if c.tx_hash in (paused, granted)] == [
        ("Paused", f"by {admin_key.address}"),
        ("RoleGranted", f"TREASURER granted to {newcomer} by {admin_key.address}")]
    # the deployment's grants are there too (the devnet's admin holds OPERATOR), and the
    # grants funded_key made by hand
    assert any(c.log == "RoleGranted" and c.detail.startswith(f"OPERATOR granted to {net.admin}")
               for c in ops.observed)
    assert ops.ops == {}  # no request was made: nothing open, nothing settled
    # the same log ingested again (a replayed range) records nothing twice
    assert ops.administered(log="Paused", tx_hash=paused,
                            detail=f"by {admin_key.address}") is False
    # a request sent later is settled by its own log, not observed
    pause_again = ask(ledger, asset, "UNPAUSE")
    ledger.approve_vault_op(asset, pause_again, "principal:bob/key:c")
    vault_requests.resume(ledger, vault_requests.VaultOpExecutor(ledger, gateway, admin_key))
    ingest_vaults(ledger, gateway, confirmations=0)
    ops = ledger.vault_ops(asset)
    assert ops.op(pause_again).state is TreasuryState.DONE
    assert not any(c.log == "Unpaused" for c in ops.observed)
    # the read model lists what was observed, oldest first, for the panel and the API
    views = views_datastore(database_url, schema)
    catch_up_all(ledger, views)
    views.close()
    rows = select(database_url, schema, "SELECT log, tx_hash, detail FROM {v}.vault_observed"
                  " WHERE ops_id = %s ORDER BY position", ops.id)
    assert [(r["log"], r["tx_hash"], r["detail"]) for r in rows] == [
        (c.log, c.tx_hash, c.detail) for c in ops.observed]
