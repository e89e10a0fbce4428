"""Paying a distribution's batch on the HTS rail, on the real ledger (PostgreSQL) and the
STAND-IN Hedera network: every holder exactly once, failures recorded with the network's
status, and an unassociated holder paid by airdrop after a retry. (A stand-in: the real
network cannot be reached from here.)"""

from __future__ import annotations

import pytest
from hiero_sdk_python import ResponseCode

from app.hts_executor import HtsBatchExecutor, UnresolvableAccount, long_zero_account
from devtools.hedera_standin import fees
from devtools.hedera_standin.history import StandinHistory
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


def _statuses(world) -> list[str]:
    return [ResponseCode(e.record.receipt.status).name for e in world.net.ledger.executed.values()]


def _num(leaf) -> int:
    return long_zero_account(leaf.account)[2]


def test_a_batch_with_an_unassociated_holder_is_one_airdrop_that_pays_the_others_at_once(
        ledger, world):
    newcomer = world.holder(associated=False)[0].num
    others = [world.holder()[0].num for _ in range(2)]
    did = executing_distribution(ledger, [others[0], newcomer, others[1]])
    batch = ledger.get_batch(did, 0)
    HtsBatchExecutor(ledger, _rail(world)).execute(batch.id)
    # the Mirror Node said the newcomer is not associated: the batch went as one airdrop,
    # which credited the two associated holders at once and left the newcomer's pending
    # until they claim (test_hts_airdrops.py); nothing failed
    batch = ledger.get_batch(did, 0)
    assert sorted(o.value for o in batch.outcomes.values()) == ["PAID", "PAID",
                                                                 "PENDING_CLAIM"]
    assert ledger.get_distribution(did).status is Status.EXECUTING
    assert _statuses(world) == ["SUCCESS"]
    assert [len(e.record.new_pending_airdrops)
            for e in world.net.ledger.executed.values()] == [1]
    leaf = next(leaf for leaf in batch.leaves.values() if _num(leaf) == newcomer)
    assert world.net.ledger.pending_airdrops == {
        (world.treasury.num, newcomer, world.token.num): leaf.net}
    assert [world.net.token_balance(n, world.token.num) for n in others] == [
        leaf.net for leaf in batch.leaves.values() if _num(leaf) != newcomer]
    assert batch.amount_paid == sum(leaf.net for leaf in batch.leaves.values()
                                    if _num(leaf) != newcomer)


def test_a_batch_of_nine_unassociated_holders_is_one_airdrop_within_its_fee_cap(ledger, world):
    newcomers = [world.holder(associated=False)[0].num for _ in range(9)]
    did = executing_distribution(ledger, newcomers)
    batch = ledger.get_batch(did, 0)
    before = world.net.tinybars(world.treasury.num)
    HtsBatchExecutor(ledger, _rail(world)).execute(batch.id)
    # nine pending airdrops cost ~$0.90 (7.5 hbar at the stand-in's $0.12): the airdrop's cap
    # grows per holder, so it is not refused INSUFFICIENT_TX_FEE at the transfer's 2 hbar
    batch = ledger.get_batch(did, 0)
    assert set(batch.outcomes.values()) == {LeafOutcome.PENDING_CLAIM}
    assert _statuses(world) == ["SUCCESS"]
    fee = before - world.net.tinybars(world.treasury.num)
    assert fee == fees.fee_tinybars("tokenAirdrop", 10, pending=9, new_pending=9)
    assert fee > int(_rail(world).max_fee.to_tinybars())


def test_without_the_mirror_nodes_relationships_the_unassociated_holder_is_found_alone(
        ledger, world):
    history = StandinHistory(world.net)
    history.relationships_answer = False  # its accounts/{id}/tokens route keeps failing
    newcomer = world.holder(associated=False)[0].num
    others = [world.holder()[0].num for _ in range(2)]
    did = executing_distribution(ledger, [others[0], newcomer, others[1]])
    batch = ledger.get_batch(did, 0)
    HtsBatchExecutor(ledger, _rail(world, history)).execute(batch.id)
    # the payment goes on as planned: the transfer of three failed as a whole; one holder
    # per transaction then paid the two associated holders, and an airdrop reached the
    # newcomer right after their own transfer failed
    batch = ledger.get_batch(did, 0)
    assert sorted(o.value for o in batch.outcomes.values()) == ["PAID", "PAID",
                                                                 "PENDING_CLAIM"]
    at = [_num(batch.leaves[i]) for i in batch.leaf_range].index(newcomer)
    unassociated, ok = "TOKEN_NOT_ASSOCIATED_TO_ACCOUNT", "SUCCESS"
    assert _statuses(world) == [unassociated, *[ok] * at, unassociated, ok, *[ok] * (2 - at)]
    leaf = next(leaf for leaf in batch.leaves.values() if _num(leaf) == newcomer)
    assert world.net.ledger.pending_airdrops == {
        (world.treasury.num, newcomer, world.token.num): leaf.net}


@pytest.mark.parametrize("mirror_knows", [True, False])
def test_a_frozen_holder_fails_alone_and_the_rest_of_the_batch_is_paid(ledger, world,
                                                                       mirror_knows):
    history = StandinHistory(world.net)
    history.relationships_answer = mirror_knows
    frozen = world.holder()[0].num
    world.net.set_frozen(frozen, world.token.num, True)
    revoked = world.holder(kyc_granted=False)[0].num
    holders = [world.holder()[0].num, frozen, world.holder()[0].num, revoked]
    did = executing_distribution(ledger, holders)
    batch = ledger.get_batch(did, 0)
    HtsBatchExecutor(ledger, _rail(world, history)).execute(batch.id)
    batch = ledger.get_batch(did, 0)
    failed = {_num(batch.leaves[i]): reason for i, reason in batch.failure_reasons.items()
              if batch.outcomes.get(i) is LeafOutcome.FAILED}
    assert failed == {frozen: "ACCOUNT_FROZEN_FOR_TOKEN",
                      revoked: "ACCOUNT_KYC_NOT_GRANTED_FOR_TOKEN"}
    assert sorted(o.value for o in batch.outcomes.values()) == ["FAILED", "FAILED", "PAID",
                                                                 "PAID"]
    distribution = ledger.get_distribution(did)
    assert distribution.status is Status.COMPLETED_WITH_FAILURES
    assert (distribution.paid, distribution.failed) == (2, 2)
    # what the Mirror Node's relationships save: each barred holder is sent alone and the
    # others together (3 transactions); without them, a failed transfer of four, then one
    # per holder (5)
    assert len(_statuses(world)) == (3 if mirror_knows else 5)
    assert _statuses(world).count("SUCCESS") == (1 if mirror_knows else 2)


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
