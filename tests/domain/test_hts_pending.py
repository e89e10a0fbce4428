"""The pending airdrop where merged leaves meet (domain/hts_pending.py): pure domain rules."""

from __future__ import annotations

from uuid import uuid4

import pytest

from domain.errors import IllegalTransition
from domain.hts_pending import (
    AirdropHeldBack,
    PendingAirdrop,
    latest_consensus,
    leg_key,
    parse_leg,
)

PAYER, HOLDER, TOKEN = "0.0.5", "0x00000000000000000000000000000000000003eC", "0xToKeN"


def _airdrop(pending: PendingAirdrop, at: int, net: int, *, held: bool = True) -> str:
    """One airdrop to the holder, sent at valid start `at`, settled pending (or credited)."""
    leg, tid = leg_key(uuid4(), 0), f"{PAYER}@{at}.000000001"
    pending.send_airdrop(transaction_id=tid, legs=[leg])
    pending.settle_airdrop(transaction_id=tid, held={leg: net} if held else {})
    return leg


def _held(*nets: int) -> tuple[PendingAirdrop, list[str]]:
    pending = PendingAirdrop.start(payer=PAYER, holder=HOLDER, token=TOKEN)
    return pending, [_airdrop(pending, 1_000 + i, net) for i, net in enumerate(nets)]


def test_every_process_finds_the_same_pending_airdrop_for_a_triple():
    assert PendingAirdrop.create_id(PAYER, HOLDER, TOKEN) == PendingAirdrop.create_id(
        PAYER, HOLDER.lower(), TOKEN.lower())
    assert PendingAirdrop.create_id(PAYER, HOLDER, TOKEN) != PendingAirdrop.create_id(
        "0.0.6", HOLDER, TOKEN)
    batch = uuid4()
    assert parse_leg(leg_key(batch, 7)) == (batch, 7)
    assert latest_consensus("0.0.5@100.5") == 100 + 5e-9 + 180 + 10


def test_merged_airdrops_add_up_and_one_credited_at_once_is_not_held():
    pending, legs = _held(100, 250)
    _airdrop(pending, 2_000, 999, held=False)  # the holder had associated meanwhile
    assert pending.amount == 350 and list(pending.legs) == legs and pending.sending == {}


def test_an_airdrop_in_flight_holds_the_cancellation_back_and_the_other_way_round():
    pending, _legs = _held(100)
    tid = f"{PAYER}@3000.0"
    pending.send_airdrop(transaction_id=tid, legs=[leg_key(uuid4(), 0)])
    with pytest.raises(IllegalTransition, match="in flight; its fate first"):
        pending.open_cancel(transaction_id=f"{PAYER}@3001.0")
    pending.settle_airdrop(transaction_id=tid, held={})  # failed, or never executed
    pending.open_cancel(transaction_id=f"{PAYER}@3001.0")
    with pytest.raises(AirdropHeldBack, match="no airdrop until its fate is known"):
        pending.send_airdrop(transaction_id=f"{PAYER}@3002.0", legs=[leg_key(uuid4(), 0)])
    with pytest.raises(IllegalTransition, match="already cancels"):
        pending.open_cancel(transaction_id=f"{PAYER}@3003.0")


def test_no_claim_is_read_while_a_cancellation_is_in_flight_and_after_it_failed_all_are():
    pending, legs = _held(100, 250)
    pending.open_cancel(transaction_id=f"{PAYER}@9.1")
    with pytest.raises(IllegalTransition, match="in flight"):
        pending.release_claimed(indexed_until=10**10)
    # it failed (the holder claimed first): every leaf merged there was claimed with it
    pending.close_cancel(transaction_id=f"{PAYER}@9.1", status="INVALID_PENDING_AIRDROP_ID")
    assert pending.release_claimed(indexed_until=10**10) == legs
    assert pending.legs == {} and pending.cancelling is None


def test_a_claim_read_at_a_horizon_ends_only_the_airdrops_that_had_reached_consensus():
    pending, legs = _held(100)
    later = _airdrop(pending, 5_000, 40)
    assert pending.release_claimed(indexed_until=latest_consensus(f"{PAYER}@1000.1")) == legs
    assert list(pending.legs) == [later] and pending.amount == 40


def test_a_successful_cancellation_ends_every_leaf_held_and_the_triple_lives_on():
    pending, legs = _held(100, 250)
    with pytest.raises(IllegalTransition, match="not the open cancellation"):
        pending.cancelled(transaction_id=f"{PAYER}@9.1")
    pending.open_cancel(transaction_id=f"{PAYER}@9.1")
    assert pending.cancelled(transaction_id=f"{PAYER}@9.1") == legs
    assert pending.legs == {} and pending.cancelling is None
    with pytest.raises(IllegalTransition, match="no leaf is pending"):
        pending.open_cancel(transaction_id=f"{PAYER}@9.3")
    _airdrop(pending, 10_000, 40)  # a later airdrop to the same holder is held again
    assert pending.amount == 40


def test_a_leaf_pending_before_the_aggregate_was_kept_is_adopted_once():
    pending = PendingAirdrop.start(payer=PAYER, holder=HOLDER, token=TOKEN)
    leg = leg_key(uuid4(), 3)
    pending.adopt(leg=leg, net=70, airdrop=f"{PAYER}@1.0")
    pending.adopt(leg=leg, net=70, airdrop=f"{PAYER}@1.0")
    assert pending.legs == {leg: 70} and len(pending.collect_events()) == 2
    # a cancellation opened before the aggregate existed ends its own leaf alone
    pending.release_cancelled(transaction_id=f"{PAYER}@2.0", legs=[leg])
    assert pending.legs == {}


def test_replaying_its_events_rebuilds_the_same_state():
    pending, _legs = _held(100, 250)
    pending.open_cancel(transaction_id=f"{PAYER}@9.1")
    pending.close_cancel(transaction_id=f"{PAYER}@9.1", status="DEAD")
    copy = None
    for e in pending.collect_events():
        copy = e.mutate(copy)
    assert copy is not None
    assert (copy.legs, copy.airdrops, copy.sending, copy.cancelling, copy.version) == (
        pending.legs, pending.airdrops, {}, None, pending.version)


def test_a_cancellation_decided_on_other_legs_than_held_now_is_refused():
    pending, legs = _held(100)
    later = _airdrop(pending, 2_000, 40)  # held by another batch since it was read
    with pytest.raises(IllegalTransition, match="changed since it was read"):
        pending.open_cancel(transaction_id=f"{PAYER}@9.1", expected=legs)
    pending.open_cancel(transaction_id=f"{PAYER}@9.1", expected=[*legs, later])
    assert pending.cancelling == f"{PAYER}@9.1"
