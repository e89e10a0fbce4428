"""The pending airdrop where merged leaves meet (domain/hts_pending.py): pure domain rules."""

from __future__ import annotations

from uuid import uuid4

import pytest

from domain.errors import IllegalTransition
from domain.hts_pending import PendingAirdrop, leg_key, parse_leg

PAYER, HOLDER, TOKEN = "0.0.5", "0x00000000000000000000000000000000000003eC", "0xToKeN"


def _held(*nets: int) -> tuple[PendingAirdrop, list[str]]:
    pending = PendingAirdrop.start(payer=PAYER, holder=HOLDER, token=TOKEN)
    legs = [leg_key(uuid4(), i) for i in range(len(nets))]
    for leg, net in zip(legs, nets, strict=True):
        pending.hold(leg=leg, net=net, airdrop=f"{PAYER}@1.{leg[-1]}")
    return pending, legs


def test_every_process_finds_the_same_pending_airdrop_for_a_triple():
    assert PendingAirdrop.create_id(PAYER, HOLDER, TOKEN) == PendingAirdrop.create_id(
        PAYER, HOLDER.lower(), TOKEN.upper().lower())
    assert PendingAirdrop.create_id(PAYER, HOLDER, TOKEN) != PendingAirdrop.create_id(
        "0.0.6", HOLDER, TOKEN)
    batch = uuid4()
    assert parse_leg(leg_key(batch, 7)) == (batch, 7)


def test_merged_leaves_add_up_and_the_same_airdrop_applied_twice_holds_once():
    pending, legs = _held(100, 250)
    pending.hold(leg=legs[0], net=100, airdrop="again")
    assert pending.amount == 350 and pending.owner == min(legs)


def test_no_claim_is_released_while_a_cancellation_is_in_flight():
    pending, legs = _held(100, 250)
    pending.open_cancel(transaction_id="0.0.5@9.1")
    with pytest.raises(IllegalTransition, match="in flight"):
        pending.release_claimed(legs=[legs[1]])
    with pytest.raises(IllegalTransition, match="already cancels"):
        pending.open_cancel(transaction_id="0.0.5@9.2")
    with pytest.raises(IllegalTransition, match="cannot join"):
        pending.hold(leg=leg_key(uuid4(), 0), net=5, airdrop="late")
    # it failed (a holder claimed first): the leaves are pending again, and claimable
    pending.close_cancel(transaction_id="0.0.5@9.1", status="INVALID_PENDING_AIRDROP_ID")
    pending.release_claimed(legs=legs)
    assert pending.legs == {} and pending.cancelling is None


def test_a_successful_cancellation_ends_every_leaf_held_and_only_its_own():
    pending, legs = _held(100, 250)
    with pytest.raises(IllegalTransition, match="not the open cancellation"):
        pending.cancelled(transaction_id="0.0.5@9.1")
    pending.open_cancel(transaction_id="0.0.5@9.1")
    assert pending.cancelled(transaction_id="0.0.5@9.1") == legs
    assert pending.legs == {} and pending.cancelling is None
    with pytest.raises(IllegalTransition, match="no leaf is pending"):
        pending.open_cancel(transaction_id="0.0.5@9.3")
    # the triple lives on: a later airdrop to the same holder is held again
    pending.hold(leg=legs[0], net=40, airdrop="0.0.5@10.0")
    assert pending.amount == 40


def test_replaying_its_events_rebuilds_the_same_state():
    pending, _legs = _held(100, 250)
    pending.open_cancel(transaction_id="0.0.5@9.1")
    pending.close_cancel(transaction_id="0.0.5@9.1", status="DEAD")
    copy = None
    for e in pending.collect_events():
        copy = e.mutate(copy)
    assert copy is not None
    assert (copy.legs, copy.cancelling, copy.version) == (pending.legs, None, pending.version)
