"""Paying a distribution's batch on the HTS rail, on the real ledger (PostgreSQL) and the
STAND-IN Hedera network: every holder exactly once, failures recorded with the network's
status, and an unassociated holder paid by airdrop after a retry. (A stand-in: the real
network cannot be reached from here.)"""

from __future__ import annotations

import pytest
from hiero_sdk_python import ResponseCode

from app.hts_executor import HtsBatchExecutor, UnresolvableAccount, long_zero_account
from domain.batch import LeafOutcome
from domain.distribution import Status
from tests.hedera_rail.ledger_setup import executing_distribution, long_zero
from tests.hedera_rail.test_hts_rail import _rail


def _balances(world, batch):
    return [world.net.token_balance(long_zero_account(leaf.account)[2], world.token.num)
            for leaf in batch.leaves.values()]


def test_twelve_holders_are_paid_by_two_transfers_and_a_second_run_pays_nobody(ledger, world):
    holders = [world.holder()[0].num for _ in range(12)]
    did = executing_distribution(ledger, holders)
    batch = ledger.get_batch(did, 0)
    executor = HtsBatchExecutor(ledger, _rail(world))
    # one run pays every holder: two transactions of 9 and 3 (10 balance changes at most)
    assert executor.execute(batch.id).action == "nothing-to-do"
    batch = ledger.get_batch(did, 0)
    assert len(batch.tx_hashes) == 2 and batch.hts_open == {}
    assert set(batch.outcomes.values()) == {LeafOutcome.PAID}
    assert _balances(world, batch) == [leaf.net for leaf in batch.leaves.values()]
    distribution = ledger.get_distribution(did)
    assert distribution.status is Status.COMPLETED
    assert distribution.amount_paid == sum(leaf.net for leaf in batch.leaves.values())
    # again: nothing undecided, nothing sent
    assert executor.execute(batch.id).action == "nothing-to-do"
    assert ledger.get_batch(did, 0).tx_hashes == batch.tx_hashes
    assert _balances(world, batch) == [leaf.net for leaf in batch.leaves.values()]


def test_an_unassociated_holder_is_found_alone_and_paid_by_airdrop_without_an_operator(
        ledger, world):
    newcomer = world.holder(associated=False)[0].num
    others = [world.holder()[0].num for _ in range(2)]
    did = executing_distribution(ledger, [others[0], newcomer, others[1]])
    batch = ledger.get_batch(did, 0)
    HtsBatchExecutor(ledger, _rail(world)).execute(batch.id)
    # the transfer of three failed as a whole; one holder per transaction then paid the two
    # associated holders, and an airdrop reached the newcomer: pending until they claim it
    # (test_hts_airdrops.py), so not paid yet and the distribution not complete
    batch = ledger.get_batch(did, 0)
    assert sorted(o.value for o in batch.outcomes.values()) == ["PAID", "PAID",
                                                                 "PENDING_CLAIM"]
    assert ledger.get_distribution(did).status is Status.EXECUTING
    # the network saw: the failed transfer of 3, then one transfer per holder in leaf order,
    # the newcomer's failing and followed at once by its airdrop
    at = [long_zero_account(batch.leaves[i].account)[2] for i in batch.leaf_range].index(
        newcomer)
    statuses = [ResponseCode(e.record.receipt.status).name
                for e in world.net.ledger.executed.values()]
    unassociated, ok = "TOKEN_NOT_ASSOCIATED_TO_ACCOUNT", "SUCCESS"
    assert statuses == [unassociated, *[ok] * at, unassociated, ok, *[ok] * (2 - at)]
    leaf = next(leaf for leaf in batch.leaves.values()
                if long_zero_account(leaf.account)[2] == newcomer)
    assert world.net.ledger.pending_airdrops == {
        (world.treasury.num, newcomer, world.token.num): leaf.net}
    assert [world.net.token_balance(n, world.token.num) for n in others] == [
        leaf.net for leaf in batch.leaves.values()
        if long_zero_account(leaf.account)[2] != newcomer]


def test_a_frozen_holder_fails_alone_and_the_rest_of_the_batch_is_paid(ledger, world):
    frozen = world.holder()[0].num
    world.net.set_frozen(frozen, world.token.num, True)
    did = executing_distribution(ledger, [world.holder()[0].num, frozen,
                                          world.holder()[0].num])
    batch = ledger.get_batch(did, 0)
    HtsBatchExecutor(ledger, _rail(world)).execute(batch.id)
    batch = ledger.get_batch(did, 0)
    failed = {long_zero_account(batch.leaves[i].account)[2]: reason
              for i, reason in batch.failure_reasons.items()
              if batch.outcomes.get(i) is LeafOutcome.FAILED}
    assert failed == {frozen: "ACCOUNT_FROZEN_FOR_TOKEN"}
    assert sorted(o.value for o in batch.outcomes.values()) == ["FAILED", "PAID", "PAID"]
    distribution = ledger.get_distribution(did)
    assert distribution.status is Status.COMPLETED_WITH_FAILURES
    assert (distribution.paid, distribution.failed) == (2, 1)


def test_a_holder_without_a_long_zero_address_is_refused_before_anything_is_signed():
    with pytest.raises(UnresolvableAccount):
        long_zero_account("0x" + "ab" * 20)
    assert long_zero_account(long_zero(1234)) == (0, 0, 1234)


def test_a_cash_out_is_refused_on_the_hts_rail_and_nothing_is_sent(ledger, world):
    from datetime import date, datetime, timedelta

    from domain.asset import BondTerms
    from domain.entitlements import Snapshot
    from domain.planning import GasModel
    from domain.terms import DistributionKind, DistributionTerms, Rule, RuleKind
    from tests.hedera_rail.ledger_setup import long_zero

    # A bond's redemption: its leaves are units the vault's cashOut redeems as it pays.
    bond = ledger.import_asset(chain_id=31337, token_address="0x" + "b0" * 20, name="Bond",
                               symbol="BND", decimals=2, kind="BOND", payment_token="0x" + "b2"
                               * 20, payment_decimals=6, vault_address=None, actor="importer")
    ledger.update_bond_terms(bond, BondTerms(100, date(2027, 1, 1)), actor="importer",
                             reason="read from the token")
    terms = DistributionTerms(kind=DistributionKind.CASH_OUT, rule=Rule(RuleKind.PER_UNIT, 100),
                              record_date=datetime.fromisoformat("2027-01-01T00:00:00+00:00"))
    did = ledger.create_distribution(asset_id=bond, idempotency_key="redeem", terms=terms,
                                     actor="maker")
    ledger.approve_distribution(did, "checker")
    holder = world.holder()[0].num
    ledger.snapshot_distribution(did, snapshot=Snapshot.from_chunks([[(long_zero(holder),
                                                                        500)]], 2),
                                 snapshot_ref="s", gas_model=GasModel())
    ledger.commit_distribution(did, tx_hash="0x" + "11" * 32, actor="approver",
                               claim_deadline=terms.record_date + timedelta(days=30))
    ledger.start_execution(did, "operator")
    # A plain transfer would pay the principal and leave the units: refused, nothing sent.
    batch = ledger.get_batch(did, 0)
    outcome = HtsBatchExecutor(ledger, _rail(world)).execute(batch.id)
    assert outcome.action == "refused" and "cashOut" in outcome.detail
    assert ledger.get_batch(did, 0).tx_hashes == []
