"""Push payouts: batches, idempotent resubmission, failure isolation, the cap, claim, reclaim."""

from __future__ import annotations

import pytest

from chain.contracts import call, send
from chain.errors import ContractRevertError
from chain.vault import claim, paid_indices
from tests.contracts.helpers import (
    DAY,
    FUNDING,
    addresses,
    balance,
    events,
    make_dist,
    skipped_indices,
    travel,
)
from tests.contracts.helpers import (
    paid_indices as logged_paid,
)

pytestmark = pytest.mark.evm


def test_a_batch_pays_every_holder_once_and_reports_it(system):
    # An approver commits ten entitlements.
    dist = make_dist(system, [1_000_000 + i for i in range(10)])
    dist.announce()
    # The operator pays them all in one batch.
    receipt = dist.pay_range(0, 10)
    # Every holder received exactly its amount.
    assert [balance(system, e.account) for e in dist.entries] == [e.amount for e in dist.entries]
    # The Paid events and the bitmap both name all ten indices.
    assert logged_paid(receipt, system.vault) == list(range(10))
    assert paid_indices(system.vault, dist.id, 0, 10) == list(range(10))
    # One BatchSettled summarises the batch, and the paid total is recorded.
    (settled,) = events(system.vault, receipt, "BatchSettled")
    assert (settled["firstIndex"], settled["count"], settled["paid"], settled["failed"],
            settled["skipped"], settled["amountPaid"]) == (0, 10, 10, 0, 0, dist.total)
    assert call(system.vault.functions.paidAmount(dist.id)) == dist.total
    assert call(system.vault.functions.outstanding(system.usd.address)) == 0


def test_paying_the_same_batch_twice_pays_nobody_twice(system):
    # A distribution whose first batch was paid.
    dist = make_dist(system, [5_000] * 6)
    dist.announce()
    dist.pay_range(0, 6)
    before = [balance(system, e.account) for e in dist.entries]
    # The service resubmits the very same batch (a crash between send and record).
    receipt = dist.pay_range(0, 6)
    # Nobody is paid again: each leaf is reported AlreadyPaid, not failed.
    assert [balance(system, e.account) for e in dist.entries] == before
    assert skipped_indices(receipt, system.vault) == list(range(6))
    (settled,) = events(system.vault, receipt, "BatchSettled")
    assert (settled["paid"], settled["failed"], settled["skipped"]) == (0, 0, 6)
    assert call(system.vault.functions.paidAmount(dist.id)) == dist.total


def test_an_overlapping_batch_pays_only_the_new_leaves(system):
    # Leaves 0..3 are paid.
    dist = make_dist(system, [7] * 8)
    dist.announce()
    dist.pay_range(0, 4)
    # A batch over 2..7 overlaps the paid ones.
    receipt = dist.pay_range(2, 6)
    # Only 4..7 are paid now; 2 and 3 are skipped.
    assert logged_paid(receipt, system.vault) == [4, 5, 6, 7]
    assert skipped_indices(receipt, system.vault) == [2, 3]
    assert call(system.vault.functions.paidAmount(dist.id)) == 8 * 7


def test_a_resubmission_can_leave_out_paid_leaves_with_explicit_indices(system):
    # Leaves 1 and 4 of a batch were paid by an earlier attempt.
    dist = make_dist(system, [11] * 6)
    dist.announce()
    dist.pay([1, 4])
    # The worker proves only the unpaid subset, a non-contiguous set of indices.
    batch = dist.batch([0, 2, 3, 5])
    assert len(batch.indices) == 16
    receipt = dist.pay([0, 2, 3, 5])
    # They are paid, and all six are now marked.
    assert logged_paid(receipt, system.vault) == [0, 2, 3, 5]
    assert call(system.vault.functions.paidAmount(dist.id)) == 66
    assert all(call(system.vault.functions.isPaid(dist.id, i)) for i in range(6))


def test_a_blocked_recipient_fails_alone(system):
    # Holder 2 of five is on the stablecoin's blocklist.
    dist = make_dist(system, [100, 200, 300, 400, 500])
    dist.announce()
    blocked = dist.entries[2].account
    send(system.usd.functions.setBlocked(blocked, True), system.admin)
    # The batch goes through.
    receipt = dist.pay_range(0, 5)
    # The four others are paid; the blocked one is reported with the token's own error.
    assert logged_paid(receipt, system.vault) == [0, 1, 3, 4]
    (failed,) = events(system.vault, receipt, "PaymentFailed")
    assert (failed["index"], failed["account"]) == (2, blocked)
    selector = system.w3.keccak(text="AccountBlocked(address)")[:4]
    assert failed["reason"][:4] == selector
    assert balance(system, blocked) == 0
    (settled,) = events(system.vault, receipt, "BatchSettled")
    assert (settled["paid"], settled["failed"], settled["amountPaid"]) == (4, 1, 1200)
    # The failed leaf is not marked paid, so a later batch retries it.
    assert not call(system.vault.functions.isPaid(dist.id, 2))
    send(system.usd.functions.setBlocked(blocked, False), system.admin)
    assert logged_paid(dist.pay([2]), system.vault) == [2]
    assert balance(system, blocked) == 300


def test_the_total_cap_holds_even_if_the_root_promises_more(system):
    # An approver commits a root whose leaves sum to 600 but approves only 500.
    dist = make_dist(system, [200, 200, 200])
    dist.announce(total_net=500)
    # Paying two leaves is within the cap.
    dist.pay_range(0, 2)
    # The third would exceed it: the whole batch reverts with the amounts.
    with pytest.raises(ContractRevertError) as err:
        dist.pay([2])
    assert (err.value.name, err.value.values) == ("CapExceeded", (dist.id, 600, 500))
    assert call(system.vault.functions.paidAmount(dist.id)) == 400


def test_a_holder_whose_push_failed_claims_it_before_the_deadline(system):
    # Holder 1 was blocked during the push.
    dist = make_dist(system, [10, 20, 30])
    dist.announce(deadline=10 * DAY)
    holder = dist.entries[1]
    send(system.usd.functions.setBlocked(holder.account, True), system.admin)
    dist.pay_range(0, 3)
    # While still blocked, a claim reverts with the token's error and changes nothing.
    with pytest.raises(ContractRevertError) as err:
        claim(system.vault, system.outsider, dist.id, holder, dist.proof(1))
    assert (err.value.name, err.value.values) == ("AccountBlocked", (holder.account,))
    # Once unblocked, anyone may trigger the claim, and it pays only the holder.
    send(system.usd.functions.setBlocked(holder.account, False), system.admin)
    receipt = claim(system.vault, system.outsider, dist.id, holder, dist.proof(1))
    assert balance(system, holder.account) == 20
    assert balance(system, system.outsider) == 0
    (claimed,) = events(system.vault, receipt, "Claimed")
    assert (claimed["index"], claimed["account"], claimed["amount"]) == (1, holder.account, 20)
    assert logged_paid(receipt, system.vault) == [1]
    # A second claim is refused: the leaf is paid.
    with pytest.raises(ContractRevertError) as err:
        claim(system.vault, system.outsider, dist.id, holder, dist.proof(1))
    assert (err.value.name, err.value.values) == ("LeafAlreadyPaid", (dist.id, 1))


def test_reclaim_after_the_deadline_returns_the_unpaid_remainder(system):
    # Two of three holders are paid; the third never is.
    dist = make_dist(system, [1_000, 2_000, 4_000])
    dist.announce(deadline=7 * DAY)
    dist.pay_range(0, 2)
    # Before the deadline the treasurer cannot reclaim.
    with pytest.raises(ContractRevertError) as err:
        send(system.vault.functions.reclaim(dist.id), system.treasurer)
    assert err.value.name == "ClaimWindowOpen"
    # After it, the remainder goes to the treasury, once.
    travel(system.w3, 8 * DAY)
    receipt = send(system.vault.functions.reclaim(dist.id), system.treasurer)
    assert balance(system, system.treasury) == 4_000
    (reclaimed,) = events(system.vault, receipt, "Reclaimed")
    assert (reclaimed["treasury"], reclaimed["amount"]) == (system.treasury, 4_000)
    # The distribution is closed: no more claims, batches or reclaims.
    late = dist.entries[2]
    with pytest.raises(ContractRevertError) as err:
        claim(system.vault, system.outsider, dist.id, late, dist.proof(2))
    assert (err.value.name, err.value.values) == ("DistributionClosed", (dist.id,))
    with pytest.raises(ContractRevertError) as err:
        dist.pay([2])
    assert err.value.name == "DistributionClosed"
    with pytest.raises(ContractRevertError) as err:
        send(system.vault.functions.reclaim(dist.id), system.treasurer)
    assert err.value.name == "DistributionClosed"


def test_a_claim_after_the_deadline_is_refused(system):
    # The deadline passes before the holder claims.
    dist = make_dist(system, [5, 6])
    receipt = dist.announce(deadline=DAY)
    deadline = events(system.vault, receipt, "Announced")[0]["claimDeadline"]
    travel(system.w3, 2 * DAY)
    # The claim is refused with the deadline.
    with pytest.raises(ContractRevertError) as err:
        claim(system.vault, system.outsider, dist.id, dist.entries[0], dist.proof(0))
    assert (err.value.name, err.value.values) == ("ClaimWindowClosed", (dist.id, deadline))


def test_sweep_takes_only_uncommitted_funds(system):
    # The vault holds FUNDING; a distribution commits 3,000 of it.
    dist = make_dist(system, [1_000] * 3)
    dist.announce()
    free = FUNDING - 3_000
    # Sweeping more than the free balance is refused with the numbers.
    with pytest.raises(ContractRevertError) as err:
        send(system.vault.functions.sweep(system.usd.address, free + 1), system.treasurer)
    assert (err.value.name, err.value.values) == (
        "SweepExceedsFree", (system.usd.address, free + 1, free))
    # Sweeping the free balance sends it to the treasury, and the holders can still be paid.
    send(system.vault.functions.sweep(system.usd.address, free), system.treasurer)
    assert balance(system, system.treasury) == free
    dist.pay_range(0, 3)
    assert balance(system, system.vault.address) == 0


def test_sweep_to_sends_only_to_accounts_the_admin_allowed(system):
    # The vault holds FUNDING, all of it free; a tax authority is not yet allowed.
    tax = system.outsider
    with pytest.raises(ContractRevertError) as err:
        send(system.vault.functions.sweepTo(system.usd.address, tax, 5), system.treasurer)
    assert (err.value.name, err.value.values) == ("NotASweepAccount", (tax,))
    # Neither the zero address nor the vault itself can be allowed.
    for bad in ("0x" + "00" * 20, system.vault.address):
        with pytest.raises(ContractRevertError) as err:
            send(system.vault.functions.setSweepAccount(bad, True), system.admin)
        assert (err.value.name, err.value.values) == ("InvalidSweepAccount", (bad,))
    # The admin allows it; a sweep to it moves the amount and says where it went.
    receipt = send(system.vault.functions.setSweepAccount(tax, True), system.admin)
    assert [(e["account"], e["allowed"]) for e in events(system.vault, receipt,
                                                         "SweepAccountSet")] == [(tax, True)]
    receipt = send(system.vault.functions.sweepTo(system.usd.address, tax, 5), system.treasurer)
    assert [(e["token"], e["treasury"], e["amount"]) for e in events(
        system.vault, receipt, "Swept")] == [(system.usd.address, tax, 5)]
    assert balance(system, tax) == 5
    # The treasury is always a valid recipient; more than is free is refused with the numbers.
    send(system.vault.functions.sweepTo(system.usd.address, system.treasury, 1),
         system.treasurer)
    free = FUNDING - 6
    with pytest.raises(ContractRevertError) as err:
        send(system.vault.functions.sweepTo(system.usd.address, tax, free + 1), system.treasurer)
    assert (err.value.name, err.value.values) == (
        "SweepExceedsFree", (system.usd.address, free + 1, free))
    # Disallowed again, it is refused again.
    send(system.vault.functions.setSweepAccount(tax, False), system.admin)
    assert not call(system.vault.functions.isSweepAccount(tax))
    with pytest.raises(ContractRevertError) as err:
        send(system.vault.functions.sweepTo(system.usd.address, tax, 1), system.treasurer)
    assert err.value.name == "NotASweepAccount"


def test_pause_stops_every_payment_path(system):
    # A distribution is announced, then the pauser pauses the vault.
    dist = make_dist(system, [9, 9])
    dist.announce()
    send(system.vault.functions.pause(), system.pauser)
    # Batches, claims, sweeps and reclaims are refused with EnforcedPause.
    for attempt in (
        lambda: dist.pay([0]),
        lambda: claim(system.vault, system.outsider, dist.id, dist.entries[0], dist.proof(0)),
        lambda: send(system.vault.functions.sweep(system.usd.address, 1), system.treasurer),
        lambda: send(system.vault.functions.sweepTo(system.usd.address, system.treasury, 1),
                     system.treasurer),
        lambda: send(system.vault.functions.reclaim(dist.id), system.treasurer),
    ):
        with pytest.raises(ContractRevertError) as err:
            attempt()
        assert err.value.name == "EnforcedPause"
    # Unpausing resumes payments.
    send(system.vault.functions.unpause(), system.pauser)
    assert logged_paid(dist.pay([0, 1]), system.vault) == [0, 1]


def test_views_report_the_distribution(system):
    # An announced distribution, half paid.
    dist = make_dist(system, [3, 4, 5, 6], accounts=addresses("views", 4))
    dist.announce()
    dist.pay_range(0, 2)
    # distribution() returns the committed terms and the paid total.
    info = call(system.vault.functions.distribution(dist.id))
    assert info[0] == system.usd.address
    assert info[2:8] == (1, False, 4, dist.tree.root, 18, 7)
    # isPaid and paidWords agree.
    assert [call(system.vault.functions.isPaid(dist.id, i)) for i in range(4)] == [
        True, True, False, False]
    assert call(system.vault.functions.paidWords(dist.id, 0, 1)) == [0b11]


def test_batches_across_bitmap_words_report_paid_and_skipped_leaves_exactly(system):
    # A 300-leaf distribution spans two 256-bit bitmap words; leaves 250..261 are paid.
    dist = make_dist(system, [1] * 300, accounts=addresses("words", 300))
    dist.announce()
    first = dist.pay_range(250, 12)
    assert logged_paid(first, system.vault) == list(range(250, 262))
    # A batch over 240..299 crosses the word boundary at 256 in both its paid and skipped leaves.
    receipt = dist.pay_range(240, 60)
    assert logged_paid(receipt, system.vault) == [*range(240, 250), *range(262, 300)]
    assert skipped_indices(receipt, system.vault) == list(range(250, 262))
    # The bitmap has exactly those bits.
    words = call(system.vault.functions.paidWords(dist.id, 0, 2))
    assert words == [sum(1 << j for j in range(240, 256)), (1 << 44) - 1]


def test_a_short_last_batch_pays_the_tail(system):
    # 130 holders paid in pages of 50: the last page is short (the reference product's bug).
    dist = make_dist(system, [3] * 130, accounts=addresses("tail", 130))
    dist.announce()
    paid = []
    for first in range(0, 130, 50):
        paid += logged_paid(dist.pay_range(first, min(50, 130 - first)), system.vault)
    # Every holder is paid exactly once, the tail included.
    assert paid == list(range(130))
    assert balance(system, dist.entries[-1].account) == 3
    assert call(system.vault.functions.paidAmount(dist.id)) == 390
