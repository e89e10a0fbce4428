"""Paying a distribution's batch on the HTS rail, on the real ledger (PostgreSQL) and the
STAND-IN Hedera network: every holder exactly once, failures recorded with the network's
status, and an unassociated holder paid by airdrop after a retry. (A stand-in: the real
network cannot be reached from here.)"""

from __future__ import annotations

import pytest

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


def test_an_unassociated_holder_fails_the_transfer_and_a_retry_pays_by_airdrop(ledger, world):
    newcomer = world.holder(associated=False)[0].num
    did = executing_distribution(ledger, [world.holder()[0].num, newcomer])
    batch = ledger.get_batch(did, 0)
    executor = HtsBatchExecutor(ledger, _rail(world))
    executor.execute(batch.id)
    # the transfer is atomic: both leaves failed with the network's status
    batch = ledger.get_batch(did, 0)
    assert set(batch.failure_reasons.values()) == {"TOKEN_NOT_ASSOCIATED_TO_ACCOUNT"}
    assert ledger.get_distribution(did).status is Status.COMPLETED_WITH_FAILURES
    # an operator retries: the same leaves go out as an airdrop, which pays the associated
    # holder now and leaves the newcomer a pending airdrop to claim
    ledger.retry_distribution(did, actor="operator", reason="airdrop the unassociated")
    executor.execute(batch.id)
    batch = ledger.get_batch(did, 0)
    assert set(batch.outcomes.values()) == {LeafOutcome.PAID}
    assert ledger.get_distribution(did).status is Status.COMPLETED
    leaf = next(leaf for leaf in batch.leaves.values()
                if long_zero_account(leaf.account)[2] == newcomer)
    assert world.net.ledger.pending_airdrops == {
        (world.treasury.num, newcomer, world.token.num): leaf.net}


def test_a_holder_without_a_long_zero_address_is_refused_before_anything_is_signed():
    with pytest.raises(UnresolvableAccount):
        long_zero_account("0x" + "ab" * 20)
    assert long_zero_account(long_zero(1234)) == (0, 0, 1234)
