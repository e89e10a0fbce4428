"""Importing an asset from the reference security token and snapshotting its holders, on
py-evm and a real PostgreSQL: what lands on the ledger, and what bad input refuses."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.importing import import_asset, snapshot_from_chain
from chain.contracts import EQUITY, deploy, deploy_security_token, deploy_vault, send
from chain.snapshot_balances import BalanceReader
from chain.token_reader import (
    AssetOnOtherChainError,
    ForeignVaultError,
    NotASecurityTokenError,
    PaymentTokenError,
    UnknownSnapshotError,
    UnknownTokenError,
    holders_at_snapshot,
    read_token,
)
from domain.asset import AssetKind, BondTerms, CorporateAction
from domain.distribution import Status
from domain.errors import InvalidTerms
from domain.planning import GasModel
from domain.terms import DistributionKind, DistributionTerms, Rule, RuleKind, Withholding
from tests.chain.conftest import CROWD, grant_token_roles, issue_crowd
from tests.contracts.helpers import DAY, addresses, coupon, dividend, now

RECORD = datetime(2026, 6, 30, tzinfo=UTC)


def position(ledger) -> int:
    return ledger.recorder.max_notification_id() or 0


def import_from(ledger, system, token: str, **overrides):
    args = {"chain_id": system.w3.eth.chain_id, "token_address": token,
            "payment_token": system.usd.address, "payment_decimals": 6,
            "vault_address": system.vault.address, "actor": "importer",
            "operator": system.operator, "approver": system.approver}
    args.update(overrides)
    return import_asset(ledger, system.w3, **args).asset_id


def moment(timestamp: int) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


def test_an_equity_token_imports_with_its_dividends(ledger, evm):
    # An issuer's equity token declares a dividend of 0.25 USD per share.
    w3, admin = evm.w3, evm.admin
    equity = deploy_security_token(w3, admin=admin, name="Acme Equity", symbol="AEQ",
                                   decimals=0, kind=EQUITY)
    grant_token_roles(equity, admin)
    record, execution = now(w3) + DAY, now(w3) + 2 * DAY
    send(equity.functions.setDividend(dividend(record, execution, 25, 2)), admin)
    # Imported by its address in lower case: the ledger stores the checksummed form.
    asset_id = import_from(ledger, evm, equity.address.lower())
    asset = ledger.get_asset(asset_id)
    assert (asset.token_address, asset.name, asset.symbol, asset.decimals, asset.kind) == \
        (equity.address, "Acme Equity", "AEQ", 0, AssetKind.EQUITY)
    assert (asset.payment_token, asset.vault_address) == (evm.usd.address, evm.vault.address)
    assert asset.corporate_actions == {1: CorporateAction(
        1, "DIVIDEND", moment(record), moment(execution), 250_000)}


def test_a_bond_imports_with_its_coupons_and_reimporting_is_a_no_op(ledger, evm):
    # The system's bond (maturity in a year, 1,000,000 USD nominal) pays two coupons.
    bond, admin = evm.bond, evm.admin
    t = now(evm.w3)
    send(bond.functions.setCoupon(coupon(t + 90 * DAY, t + 91 * DAY, 125)), admin)
    send(bond.functions.setCoupon(coupon(t + 180 * DAY, t + 181 * DAY, 125)), admin)
    facts = read_token(evm.w3, bond.address)
    assert (facts.kind, facts.nominal_value, facts.nominal_in(6)) == ("BOND", 100_000_000,
                                                                      100_000_000)
    assert (facts.token_kind, facts.security_type) == ("reference", "BondVariableRate")
    assert facts.maturity_date == moment(bond.functions.getBondDetails().call()[4])
    asset_id = import_from(ledger, evm, bond.address)
    asset = ledger.get_asset(asset_id)
    assert asset.kind is AssetKind.BOND
    # Its nominal value and maturity are kept (the coupon's rate and dates: an operator's).
    assert asset.bond_terms == BondTerms(100_000_000, facts.maturity_date.date())
    # Each coupon: 1.25 % of 100 USD for one year = 1.25 USD per bond.
    assert [(a.kind, a.record_date, a.amount_per_unit)
            for a in asset.corporate_actions.values()] == \
        [("COUPON", moment(t + 90 * DAY), 1_250_000), ("COUPON", moment(t + 180 * DAY), 1_250_000)]
    # Importing again records nothing and returns the same asset.
    before = position(ledger)
    assert import_from(ledger, evm, bond.address) == asset_id
    assert position(ledger) == before
    # A coupon declared later is picked up by the next import, and only it.
    send(bond.functions.setCoupon(coupon(t + 270 * DAY, t + 271 * DAY, 125)), admin)
    assert import_from(ledger, evm, bond.address) == asset_id
    assert position(ledger) == before + 1
    assert sorted(ledger.get_asset(asset_id).corporate_actions) == [1, 2, 3]
    # A coupon whose rate is not fixed yet (PENDING) waits: its amount is not known.
    pending = (*coupon(t + 360 * DAY, t + 361 * DAY, 0)[:7], 0)
    send(bond.functions.setCoupon(pending), admin)
    assert import_from(ledger, evm, bond.address) == asset_id
    assert position(ledger) == before + 1


def test_a_matured_bond_is_refused_and_nothing_is_recorded(ledger, evm):
    matured = deploy_security_token(evm.w3, admin=evm.admin, maturity_date=86_400 * 365,
                                    nominal_value=100_000_000)
    before = position(ledger)
    with pytest.raises(InvalidTerms, match="matured on 1971-01-01"):
        import_from(ledger, evm, matured.address)
    assert position(ledger) == before


def foreign_vault(system):
    """A vault deployed and administered by an outsider: our keys hold no role on it."""
    return deploy_vault(system.w3, admin=system.outsider, treasury=system.outsider,
                        grants={"OPERATOR": [system.outsider],
                                "APPROVER": [system.outsider]}).address


@pytest.mark.parametrize(("case", "error", "message"), [
    ("unknown token", UnknownTokenError, "no contract at token address"),
    ("hedera id without a contract", UnknownTokenError, "0x0000000000000000000000000000000000"),
    ("stablecoin as the token", NotASecurityTokenError,
     r"is not an ATS security token: no getERC20Metadata\(\), no balanceOfAtSnapshot\(uint256,"
     r"address\), .*no getTotalSecurityHolders\(\)$"),
    ("wrong chain id", AssetOnOtherChainError, "expected 296"),
    ("foreign vault", ForeignVaultError, "lacks OPERATOR_ROLE"),
    ("token as the vault", ForeignVaultError, "is not a PayoutVault"),
    ("no vault code", ForeignVaultError, "no contract at vault address"),
    ("payment decimals", PaymentTokenError, "has 6 decimals, not 18"),
    ("payment token missing", PaymentTokenError, "no contract at payment token"),
])
def test_bad_input_raises_its_own_error_and_records_nothing(ledger, evm, case, error, message):
    # Each case spoils one input of an otherwise valid bond import.
    spoilt = {
        "unknown token": {"token_address": "0x" + "ab" * 20},
        "hedera id without a contract": {"token_address": "0.0.4242"},
        "stablecoin as the token": {"token_address": evm.usd.address},
        "wrong chain id": {"chain_id": 296},
        "foreign vault": {"vault_address": foreign_vault(evm)},
        "token as the vault": {"vault_address": evm.bond.address},
        "no vault code": {"vault_address": "0x" + "cd" * 20},
        "payment decimals": {"payment_decimals": 18},
        "payment token missing": {"payment_token": "0x" + "ef" * 20},
    }[case]
    before = position(ledger)
    with pytest.raises(error, match=message):
        import_from(ledger, evm, evm.bond.address, **spoilt)
    assert position(ledger) == before


def test_holders_are_read_page_by_page_as_they_were_at_the_snapshot(evm, crowd):
    # 1,000 holders read 300 at a time: four pages, never the whole list at once.
    pages = list(holders_at_snapshot(evm.w3, crowd.token.address, crowd.snapshot_id,
                                     page_size=300))
    assert [len(p) for p in pages] == [300, 300, 300, 100]
    # Balances are the snapshot's: the issuance after it changes nothing.
    assert dict(row for page in pages for row in page) == crowd.balances
    with pytest.raises(UnknownSnapshotError, match="snapshot 7"):
        next(holders_at_snapshot(evm.w3, crowd.token.address, 7))


def test_a_token_without_paged_balances_is_read_by_holders_and_balance_calls(evm):
    # An older ATS token has no balancesOfAtSnapshot: holder pages + balanceOfAtSnapshot calls.
    token = deploy_security_token(evm.w3, admin=evm.admin, kind=EQUITY)
    grant_token_roles(token, evm.admin)
    balances = {h: 10 + i for i, h in enumerate(addresses("older", 5))}
    send(token.functions.issueBatch(list(balances), list(balances.values())), evm.admin)
    send(token.functions.takeSnapshot(), evm.admin)
    older = deploy(evm.w3, "OlderAtsSnapshots", token.address, sender=evm.admin)
    pages = list(holders_at_snapshot(evm.w3, older.address, 1, page_size=2))
    assert [len(p) for p in pages] == [2, 2, 1]
    assert dict(row for page in pages for row in page) == balances


def test_balance_reads_fall_back_to_single_calls_when_batches_are_refused(evm, crowd):
    # eth-tester has no JSON-RPC batches, like a Hedera relay with batching disabled.
    reader = BalanceReader(evm.w3, crowd.token.address, crowd.snapshot_id)
    reader.batching = True
    holders = list(crowd.balances)[:5]
    assert reader.read(holders) == [crowd.balances[h] for h in holders]
    assert reader.batching is False


def pro_rata(balances: dict[str, int], pool: int, bps: int) -> dict[str, tuple[int, int]]:
    """The expected (gross, net) per holder, computed here rather than by the domain."""
    total = sum(balances.values())
    out = {}
    for account, balance in balances.items():
        gross = pool * balance // total
        out[account] = (gross, gross - gross * bps // 10_000)
    return out


@pytest.mark.slow
def test_a_distribution_is_snapshotted_from_1000_holders_on_chain(ledger, evm, crowd):
    # The crowd's equity token is imported and a 1,000 USD dividend (10 % withheld) approved.
    asset_id = import_from(ledger, evm, crowd.token.address)
    terms = DistributionTerms(kind=DistributionKind.DIVIDEND,
                              rule=Rule(RuleKind.PRO_RATA, 1_000_000_000), record_date=RECORD,
                              withholding=Withholding(1_000), concept="Q2 dividend")
    did = ledger.create_distribution(asset_id=asset_id, idempotency_key="q2", terms=terms,
                                     actor="maker")
    ledger.approve_distribution(did, "checker")
    # The holders are streamed from the token's snapshot into the distribution.
    totals = snapshot_from_chain(ledger, evm.w3, did, snapshot_id=crowd.snapshot_id,
                                 gas_model=GasModel(), page_size=250)
    distribution = ledger.get_distribution(did)
    assert distribution.status is Status.SNAPSHOTTED
    assert distribution.snapshot_ref == f"{crowd.token.address}@snapshot:1"
    # Every holder's entitlement matches an independent computation, and the pool adds up.
    expected = pro_rata(crowd.balances, 1_000_000_000, 1_000)
    recorded = {h.account: (h.gross, h.net) for b in ledger.batches(did) for h in b.holders}
    assert len(recorded) == CROWD and recorded == expected
    assert totals.holders == CROWD
    assert totals.net + totals.withheld + totals.dust == 1_000_000_000


@pytest.mark.anvil
@pytest.mark.slow
def test_anvil_serves_the_balances_in_json_rpc_batches(anvil_w3):
    # The same 1,000-holder token on anvil, whose endpoint takes JSON-RPC batches.
    crowd = issue_crowd(anvil_w3, anvil_w3.eth.accounts[0])
    pages = holders_at_snapshot(anvil_w3, crowd.token.address, crowd.snapshot_id)
    assert dict(row for page in pages for row in page) == crowd.balances
    reader = BalanceReader(anvil_w3, crowd.token.address, crowd.snapshot_id)
    holders = list(crowd.balances)[-150:]
    assert reader.read(holders) == [crowd.balances[h] for h in holders]
    assert reader.batching is True
