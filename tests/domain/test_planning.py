"""Batches are contiguous leaf ranges sized by gas, covering every holder exactly once."""

from __future__ import annotations

import pytest

from domain.entitlements import Entitlement, SkipReason
from domain.errors import InvalidInput
from domain.planning import HEDERA_TX_GAS_CAP, GasModel, plan_batches


def ledger_of(n: int, skip_every: int = 0) -> list[Entitlement]:
    out, leaf = [], 0
    for p in range(n):
        if skip_every and p % skip_every == 0:
            out.append(Entitlement(p, f"a{p}", 0, 0, 0, 0, None, SkipReason.ZERO_BALANCE))
        else:
            out.append(Entitlement(p, f"a{p}", 10, 10, 0, 10, leaf, None))
            leaf += 1
    return out


@pytest.mark.parametrize(("n", "capacity", "skip_every"), [(1, 5, 0), (10, 3, 0), (10, 10, 0),
                                                           (11, 10, 0), (1000, 37, 7)])
def test_batches_cover_all_leaves_contiguously_including_a_short_tail(n, capacity, skip_every):
    holders = ledger_of(n, skip_every)
    plans = list(plan_batches(holders, capacity, max_holders=1000))
    assert [h for p in plans for h in p.holders] == holders  # every holder, once, in order
    expected_first = 0
    for plan in plans:
        assert plan.first_leaf == expected_first
        leaves = [h.leaf_index for h in plan.holders if h.leaf_index is not None]
        assert leaves == list(range(plan.first_leaf, plan.first_leaf + plan.leaf_count))
        assert 0 < plan.leaf_count <= capacity or not leaves
        expected_first += plan.leaf_count
    assert expected_first == sum(1 for h in holders if h.leaf_index is not None)


def test_max_holders_bounds_a_batch_of_mostly_skipped_holders():
    holders = ledger_of(100, skip_every=1)  # everyone skipped
    plans = list(plan_batches(holders, capacity=50, max_holders=30))
    assert [len(p.holders) for p in plans] == [30, 30, 30, 10]
    assert all(p.leaf_count == 0 for p in plans)


def test_gas_model_keeps_every_batch_under_the_hedera_cap():
    model = GasModel(fixed_per_call=60_000, per_leaf=28_500, per_proof_hash=1_200,
                     budget=HEDERA_TX_GAS_CAP)
    for leaf_count in (1, 2, 1_000, 100_000, 10**7):
        capacity = model.capacity(leaf_count)
        assert model.gas_limit(capacity, leaf_count) <= HEDERA_TX_GAS_CAP
        assert model.gas_limit(capacity + 1, leaf_count) > HEDERA_TX_GAS_CAP - model.per_leaf


def test_a_budget_that_fits_nothing_or_exceeds_the_cap_is_refused():
    with pytest.raises(InvalidInput):
        GasModel(budget=HEDERA_TX_GAS_CAP + 1)
    with pytest.raises(InvalidInput):
        GasModel(budget=50_000).capacity(10)
