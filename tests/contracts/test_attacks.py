"""Attacks and malformed input: each is refused with its own custom error, asserted exactly."""

from __future__ import annotations

import dataclasses

import pytest

from chain.contracts import call, send
from chain.errors import ContractRevertError
from chain.vault import Entitlement, claim, pack_leaf, pay_batch
from tests.contracts.helpers import Dist, balance, deploy_named, events, make_dist, now

pytestmark = pytest.mark.evm


def refused(fn, name, *values):
    with pytest.raises(ContractRevertError) as err:
        fn()
    assert err.value.name == name, err.value
    if values:
        assert err.value.values == values
    return err.value


def test_a_leaf_not_in_the_root_is_refused(system):
    # A committed distribution of four leaves.
    dist = make_dist(system, [10, 20, 30, 40])
    dist.announce()
    # The operator swaps holder 1's account for its own in an otherwise valid batch.
    batch = dist.batch(range(4))
    forged = list(batch.leaves)
    forged[1] = pack_leaf(system.operator, 20)
    # The multiproof no longer rebuilds the root: nothing is paid.
    refused(lambda: pay_batch(system.vault, system.operator, dist.id,
                              dataclasses.replace(batch, leaves=forged)),
            "InvalidMultiproof", dist.id)
    assert balance(system, system.operator) == 0
    assert call(system.vault.functions.paidAmount(dist.id)) == 0


def test_a_changed_amount_is_refused(system):
    # A batch whose third leaf claims one unit more than committed.
    dist = make_dist(system, [10, 20, 30, 40])
    dist.announce()
    batch = dist.batch(range(4))
    forged = list(batch.leaves)
    forged[2] = pack_leaf(dist.entries[2].account, 31)
    # Refused, and no one was paid.
    refused(lambda: pay_batch(system.vault, system.operator, dist.id,
                              dataclasses.replace(batch, leaves=forged)),
            "InvalidMultiproof", dist.id)
    assert balance(system, dist.entries[0].account) == 0


def test_a_single_proof_with_a_changed_amount_is_refused_at_claim(system):
    # A holder tries to claim more than its leaf.
    dist = make_dist(system, [10, 20])
    dist.announce()
    greedy = dataclasses.replace(dist.entries[0], amount=11)
    refused(lambda: claim(system.vault, system.outsider, dist.id, greedy, dist.proof(0)),
            "InvalidProof", dist.id, 0)


def test_a_proof_from_another_distribution_is_refused(system):
    # Two distributions to the same holders with different amounts.
    a = make_dist(system, [1, 2, 3])
    b = Dist(system, [Entitlement(e.index, e.account, e.amount * 100) for e in a.entries])
    a.announce()
    b.announce()
    # B's valid batch replayed against A is refused with A's id.
    refused(lambda: pay_batch(system.vault, system.operator, a.id, b.batch(range(3))),
            "InvalidMultiproof", a.id)
    # And B's single proof cannot claim from A either.
    refused(lambda: claim(system.vault, system.outsider, a.id, b.entries[1], b.proof(1)),
            "InvalidProof", a.id, 1)


def test_announcing_twice_is_refused(system):
    # A distribution is announced.
    dist = make_dist(system, [5])
    dist.announce()
    # The same id cannot be announced again, even with other terms.
    refused(lambda: dist.announce(total_net=1), "DistributionExists", dist.id)


def test_bad_announcements_are_refused(system):
    dist = make_dist(system, [5, 6])
    # A deadline in the past.
    refused(lambda: dist.announce(deadline=-1), "DeadlineNotInFuture")
    # A payment token that is not a contract.
    refused(lambda: dist.announce(token=system.outsider), "NotAContract", system.outsider)
    # A zero root or zero leaves.
    fn = system.vault.functions.announce(dist.id, system.usd.address, b"\0" * 32, 1, 2,
                                         now(system.w3) + 1000)
    refused(lambda: send(fn, system.approver), "InvalidAnnouncement", dist.id)
    # A cash-out whose asset is not a contract, or whose principal per unit is zero.
    cash = system.vault.functions.announceCashOut
    deadline = now(system.w3) + 1000
    refused(lambda: send(cash(dist.id, system.usd.address, system.outsider, 1, dist.tree.root, 1,
                              2, deadline), system.approver), "NotAContract", system.outsider)
    refused(lambda: send(cash(dist.id, system.usd.address, system.bond.address, 0,
                              dist.tree.root, 1, 2, deadline), system.approver),
            "InvalidAnnouncement", dist.id)
    # A zero treasury.
    refused(lambda: send(system.vault.functions.setTreasury("0x" + "00" * 20), system.admin),
            "ZeroAddress")


def test_a_reentrant_token_cannot_reenter(system):
    # A payment token that, on transfer, calls back into the vault to claim.
    token = deploy_named(system, "ReentrantToken")
    send(token.functions.transfer(system.vault.address, 10**18), system.admin)
    dist = make_dist(system, [100, 200])
    dist.announce(token=token.address)
    reentry = system.vault.encode_abi("claim", args=[dist.id, 0, dist.entries[0].account, 100,
                                                     dist.proof(0)])
    send(token.functions.arm(system.vault.address, reentry), system.admin)
    # A push batch: each transfer's reentry is refused, so each holder fails alone with the
    # guard's error as the reason, and nothing is paid.
    receipt = dist.pay_range(0, 2)
    selector = system.w3.keccak(text="ReentrancyGuardReentrantCall()")[:4]
    assert [f["reason"] for f in events(system.vault, receipt, "PaymentFailed")] == [selector] * 2
    assert call(system.vault.functions.paidAmount(dist.id)) == 0
    # A direct claim reverts as a whole with the guard's error.
    refused(lambda: claim(system.vault, system.outsider, dist.id, dist.entries[1], dist.proof(1)),
            "ReentrancyGuardReentrantCall")


def test_a_false_returning_or_gas_burning_token_fails_per_holder(system):
    # A token that returns false for one holder and burns all gas for another.
    token = deploy_named(system, "QuirkyToken")
    send(token.functions.transfer(system.vault.address, 10**18), system.admin)
    dist = make_dist(system, [1, 2, 3])
    send(token.functions.setQuirks(dist.entries[0].account, dist.entries[1].account), system.admin)
    dist.announce(token=token.address)
    # The batch completes within its gas: the two fail alone, the third is paid.
    receipt = dist.pay_range(0, 3)
    failed = events(system.vault, receipt, "PaymentFailed")
    assert [(f["index"], f["reason"]) for f in failed] == [(0, b"\0" * 32), (1, b"")]
    assert events(system.vault, receipt, "BatchSettled")[0]["paid"] == 1
    # The gas burner consumed at most the vault's stipend.
    assert receipt["gasUsed"] < call(system.vault.functions.transferGas()) + 200_000


def test_starving_a_transfer_of_gas_reverts_instead_of_failing_the_holder(system):
    # A token whose transfer to one holder burns every unit of gas it is given.
    token = deploy_named(system, "QuirkyToken")
    send(token.functions.transfer(system.vault.address, 10**18), system.admin)
    dist = make_dist(system, [1])
    send(token.functions.setQuirks(system.admin, dist.entries[0].account), system.admin)
    dist.announce(token=token.address)
    # An operator sends the batch with too little gas for the stipend.
    fn = system.vault.functions.payBatch(*dist.batch([0]).args(dist.id))
    refused(lambda: send(fn, system.operator, gas=110_000), "GasStarved", 0)


def test_malformed_batches_are_refused(system):
    dist = make_dist(system, [1, 2, 3, 4])
    dist.announce()
    good = dist.batch(range(4))
    vault, op = system.vault, system.operator
    # An unknown distribution.
    refused(lambda: pay_batch(vault, op, b"\x42" * 32, good), "UnknownDistribution", b"\x42" * 32)
    # An empty batch.
    refused(lambda: pay_batch(vault, op, dist.id, dataclasses.replace(good, leaves=[])),
            "EmptyBatch")
    # A range past the last leaf.
    refused(lambda: pay_batch(vault, op, dist.id, dataclasses.replace(good, first_index=1)),
            "IndexOutOfRange", 4, 4)
    # Explicit indices out of order.
    two = dist.batch([1, 3])
    swapped = dataclasses.replace(two, indices=bytes.fromhex("0000000100000000"))
    refused(lambda: pay_batch(vault, op, dist.id, dataclasses.replace(swapped, first_index=1)),
            "IndicesNotAscending", 0)
    # Explicit indices of the wrong length, or flags of the wrong length.
    refused(lambda: pay_batch(vault, op, dist.id, dataclasses.replace(two, indices=b"\0\0\0\1")),
            "MalformedBatch")
    refused(lambda: pay_batch(vault, op, dist.id,
                              dataclasses.replace(good, proof_flags=good.proof_flags + b"\0")),
            "MalformedBatch")
    # A claim for an index past the end.
    refused(lambda: claim(vault, op, dist.id, Entitlement(9, op, 1), []), "IndexOutOfRange", 9, 4)


def test_a_payout_distribution_cannot_be_cashed_out_and_the_settlement_hook_is_private(system):
    dist = make_dist(system, [1, 2])
    dist.announce()
    # cashOut on a payout distribution names the kind it found.
    fn = system.vault.functions.cashOut(*dist.batch([0, 1]).args(dist.id))
    refused(lambda: send(fn, system.operator), "WrongKind", dist.id, 1)
    # Nobody but the vault itself may call the per-holder cash-out hook.
    hook = system.vault.functions.settleCashOutLeaf(system.usd.address, system.bond.address,
                                                    system.outsider, 1, 1)
    refused(lambda: send(hook, system.outsider), "OnlySelf")
