"""A bond redeemed at maturity through the application, on anvil: refused before maturity;
then the holders frozen at maturity, `announceCashOut`, `cashOut` batches by the executor
(in this process), the outcomes ingested from the vault's logs, and reconciliation of both
legs: principal paid and units redeemed. Holders the stablecoin blocks fail alone, with their
reason; once unblocked, one claims (its units redeemed as it is paid) and one is retried."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from app.claims import unpaid_claims
from app.execution import commit_on_chain
from app.executor import BatchExecutor
from app.importing import import_asset, snapshot_from_chain
from app.ingest import ingest_vaults
from app.reconcile import reconcile
from chain.contracts import BOND, call, deploy_security_token, role, send
from devtools.devnet import block, fund_vault, holder_addresses, take_snapshot, unblock
from domain.batch import PAID_OUTCOMES
from domain.distribution import Status
from domain.errors import InvalidTerms
from domain.planning import GasModel
from domain.terms import DistributionKind, DistributionTerms, Rule, RuleKind
from tests.contracts.helpers import travel
from tests.execution.conftest import Stack

NOMINAL = 100_000_000  # 100 USD (6 decimals) per whole bond unit (2 decimals)
SMALL = GasModel(budget=1_500_000)  # ~9 cash-out holders a batch: several batches


def send_raw(w3, sender: str, to: str, data: str) -> None:
    tx = w3.eth.send_transaction({"from": sender, "to": to, "data": data, "gas": 500_000})
    assert w3.eth.wait_for_transaction_receipt(tx)["status"] == 1


def pay_all(stack: Stack, executor: BatchExecutor, did) -> Status:
    for batch in stack.ledger.batches(did):
        executor.execute(batch.id)
    return stack.wait_until_done(did, timeout=60)


def test_a_bond_is_redeemed_at_maturity_and_reconciled_on_both_legs(stack: Stack):
    net, ledger = stack.net, stack.ledger
    w3, admin = net.w3, net.admin
    # A bond maturing in 30 days (on the wall clock the import checks), held by 20 holders.
    maturity = datetime.now(UTC).date() + timedelta(days=30)
    at = int(datetime.combine(maturity, datetime.min.time(), UTC).timestamp())
    bond = deploy_security_token(w3, admin=admin, name="Acme Bond", symbol="ABND", kind=BOND,
                                 maturity_date=at, nominal_value=NOMINAL)
    for name in ("ISSUER", "CORPORATE_ACTION"):
        send(bond.functions.grantRole(role(name), admin), admin)
    send(bond.functions.grantRole(role("CONTROLLER"), net.vault.address), admin)
    holders = holder_addresses(20, tag="bondholder")
    send(bond.functions.issueBatch(holders, [100 + 37 * i for i in range(20)]), admin,
         gas=30_000_000)
    supply = int(call(bond.functions.totalSupply()))
    asset_id = import_asset(ledger, w3, chain_id=31337, token_address=bond.address,
                            payment_token=net.usd.address, payment_decimals=6,
                            vault_address=net.vault.address, actor="importer",
                            operator=admin, approver=admin).asset_id
    assert ledger.get_asset(asset_id).bond_terms.maturity_date == maturity
    terms = DistributionTerms(kind=DistributionKind.CASH_OUT,
                              rule=Rule(RuleKind.PER_UNIT, NOMINAL),
                              record_date=datetime.combine(maturity, datetime.min.time(), UTC))
    # Before maturity: a record date before it is refused, and so is a snapshot while the
    # chain's clock has not reached it. Nothing is recorded, nothing sent.
    before = ledger.recorder.max_notification_id()
    with pytest.raises(InvalidTerms, match="maturity"):
        ledger.create_distribution(
            asset_id=asset_id, idempotency_key="early", actor="maker",
            terms=DistributionTerms(kind=DistributionKind.CASH_OUT,
                                    rule=Rule(RuleKind.PER_UNIT, NOMINAL),
                                    record_date=terms.record_date - timedelta(days=1)))
    assert ledger.recorder.max_notification_id() == before
    did = ledger.create_distribution(asset_id=asset_id, idempotency_key="redemption",
                                     terms=terms, actor="maker")
    ledger.approve_distribution(did, "checker")
    net.token = bond
    snapshot_id = take_snapshot(net)
    with pytest.raises(InvalidTerms, match="waits for maturity"):
        snapshot_from_chain(ledger, w3, did, snapshot_id=snapshot_id, gas_model=SMALL)
    assert ledger.get_distribution(did).status is Status.APPROVED
    # At maturity (the dev chain's clock moved on): the holder list is frozen.
    travel(w3, 31 * 86_400)
    snapshot_id = take_snapshot(net)
    totals = snapshot_from_chain(ledger, w3, did, snapshot_id=snapshot_id, gas_model=SMALL)
    assert totals.eligible == 20 and totals.net == supply * NOMINAL // 100
    assert ledger.get_distribution(did).batch_count > 1
    commit_on_chain(ledger, stack.services.gateway, stack.services.signer, did,
                    claim_deadline=datetime.now(UTC) + timedelta(days=400), actor="checker")
    fund_vault(net, totals.net)
    # Two holders are blocked by the stablecoin: each fails alone; the others are redeemed.
    blocked, claimer = holders[3], holders[11]
    block(net, blocked)
    block(net, claimer)
    executor = BatchExecutor(ledger, stack.services.gateway, stack.services.signer, SMALL)
    ledger.start_execution(did, "operator")
    assert pay_all(stack, executor, did) is Status.COMPLETED_WITH_FAILURES
    distribution = ledger.get_distribution(did)
    assert (distribution.paid, distribution.failed) == (18, 2)
    failures = {b.leaves[i].account: b.failure_reasons[i]
                for b in ledger.batches(did) for i in b.failed_leaves()}
    assert set(failures) == {blocked, claimer} and all(failures.values())
    check = reconcile(ledger, w3, did, check_balances=True)
    assert check.ok, check.differences
    units_kept = sum(int(call(bond.functions.balanceOf(h))) for h in (blocked, claimer))
    assert check.units_redeemed == supply - units_kept
    assert int(call(bond.functions.totalSupply())) == units_kept
    # Unblocked, one claims: its claim commits its units, which the vault redeems as it pays.
    unblock(net, blocked)
    unblock(net, claimer)
    _, claims = unpaid_claims(ledger, did, datetime.now(UTC))
    claim = next(c for c in claims if c.account == claimer)
    assert claim.amount == int(call(bond.functions.balanceOf(claimer)))
    send_raw(w3, admin, net.vault.address, claim.calldata())
    ingest_vaults(ledger, stack.services.gateway, confirmations=0)
    # The other is retried: redeemed and paid; the bond's supply is gone.
    ledger.retry_distribution(did, actor="operator", reason="holder unblocked")
    assert pay_all(stack, executor, did) is Status.COMPLETED
    check = reconcile(ledger, w3, did, check_balances=True)
    assert check.ok and check.units_redeemed == supply, check.differences
    assert int(call(bond.functions.totalSupply())) == 0
    outcomes = {b.leaves[i].account: o for b in ledger.batches(did) for i, o in b.outcomes.items()}
    # (The claim's `Paid` log precedes its `Claimed`: the ledger records the leaf paid.)
    assert outcomes[claimer] in PAID_OUTCOMES and outcomes[blocked] == "PAID"
    assert check.chain_paid == totals.net
    assert maturity > date.today()  # the wall clock never reached it: the chain's did
