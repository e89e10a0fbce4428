"""A dividend read through the ATS adapter, end to end on anvil and a real PostgreSQL: the
import, the record-date snapshot the token takes, the holders frozen by it, each holder's amount
against ATS's own `getDividendAmountFor`, and the token's SnapshotTaken log ingested."""

from __future__ import annotations

import pytest

from app.importing import import_asset
from app.ingest import VaultIngestor
from chain.contracts import EQUITY, deploy_security_token, deploy_stablecoin, send
from chain.logs import JsonRpcLogSource
from chain.token_reader import action_amount_for, action_snapshot_id, holders_at_snapshot
from tests.chain.conftest import grant_token_roles
from tests.contracts.helpers import DAY, addresses, dividend, now, travel

BALANCES = (150, 2_075, 9_999)  # 1.50, 20.75 and 99.99 shares (2 decimals)

pytestmark = pytest.mark.anvil  # ingestion reads logs over JSON-RPC, which py-evm lacks


def test_a_dividend_pays_what_ats_itself_computes_for_each_holder(ledger, anvil_w3):
    w3 = anvil_w3
    admin = w3.eth.accounts[0]
    usd = deploy_stablecoin(w3, owner=admin)
    equity = deploy_security_token(w3, admin=admin, name="Acme Equity", symbol="AEQ",
                                   decimals=2, kind=EQUITY)
    grant_token_roles(equity, admin)
    holders = addresses("ats-div", len(BALANCES) + 1)
    for holder, balance in zip(holders, BALANCES, strict=False):
        send(equity.functions.issue(holder, balance), admin)
    # A dividend of 1.2345 USD per share (ATS amount 12345, 4 decimals), paid in 6-decimal USD.
    record = now(w3) + DAY
    send(equity.functions.setDividend(dividend(record, record + DAY, 12_345, 4)), admin)
    imported = import_asset(ledger, w3, chain_id=w3.eth.chain_id, token_address=equity.address,
                            payment_token=usd.address, payment_decimals=6,
                            vault_address=None, actor="importer")
    assert (imported.token_kind, imported.security_type) == ("reference", "Equity")
    per_unit = ledger.get_asset(imported.asset_id).corporate_actions[1].amount_per_unit
    assert per_unit == 1_234_500
    # After the record date a late holder arrives: that issuance first takes the snapshot.
    travel(w3, 2 * DAY)
    send(equity.functions.issue(holders[-1], 500), admin)
    snapshot_id = action_snapshot_id(w3, equity.address, coupon=False, action_id=1)
    assert snapshot_id == 1
    frozen = dict(row for page in holders_at_snapshot(w3, equity.address, snapshot_id)
                  for row in page)
    assert frozen == dict(zip(holders, BALANCES, strict=False))
    # Each holder's PER_UNIT amount is ATS's own numerator/denominator, in USD micro-units.
    for holder, balance in frozen.items():
        amount = action_amount_for(w3, equity.address, coupon=False, action_id=1,
                                   account=holder)
        assert amount is not None
        numerator, denominator = amount
        assert balance * per_unit // 10**2 == numerator * 10**6 // denominator
    # The token's SnapshotTaken (ATS's event: operator, snapshotID) reaches the asset.
    VaultIngestor(ledger, JsonRpcLogSource(w3), w3, w3.eth.chain_id, imported.asset_id,
                  vault=usd.address, payment_token=usd.address,
                  security_token=equity.address).catch_up()
    assert 1 in ledger.get_asset(imported.asset_id).snapshots
