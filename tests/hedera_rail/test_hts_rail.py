"""The HTS rail against the STAND-IN Hedera network (and a stand-in Mirror Node history):
batches paid by native transfers, airdrops for unassociated holders, and exactly-once by
TransactionId through lost answers, crashes and expired windows. (Stand-ins: the real network
and Mirror Node cannot be reached from here.)"""

from __future__ import annotations

import pickle

import pytest
from hiero_sdk_python import PrivateKey

from chain.hedera.hts_rail import HtsRail, SubmitResult
from chain.hedera.hts_signer import LocalHederaSigner
from chain.signer import SignerConfigError
from devtools.hedera_standin.history import StandinHistory
from domain.failures import FailureClass
from domain.hts_failures import classify_status, wants_airdrop
from domain.hts_planning import HtsLeg, HtsLimits, estimate_bytes, plan_hts_batches
from domain.hts_recovery import Verdict
from tests.hedera_rail.conftest import World


def _rail(world: World, history: StandinHistory | None = None, *,
          own_client: bool = False) -> HtsRail:
    """A rail on the world's client, or (another worker) on a client of its own."""
    client = world.fresh_client() if own_client else world.client
    return HtsRail(client=client, lookup_client=world.fresh_client(),
                   payer=world.treasury, token=world.token,
                   signer=LocalHederaSigner(world.treasury_key),
                   history=history or StandinHistory(world.net),
                   clock=world.net.ledger.clock.now)


def _legs(world: World, count: int, **holder: bool) -> list[HtsLeg]:
    return [HtsLeg(i, (0, 0, world.holder(**holder)[0].num), 100 + i) for i in range(count)]


def _ref(world: World) -> tuple[int, int, int]:
    return (0, 0, world.treasury.num)


def test_a_planned_batch_of_nine_is_paid_by_one_transfer_within_its_byte_estimate(world):
    rail = _rail(world)
    legs = _legs(world, 12)
    # the planner cuts 12 holders into 9 + 3 (10 balance changes with the payer's debit)
    plans = list(plan_hts_batches(_ref(world), legs))
    assert [len(p.legs) for p in plans] == [9, 3]
    for plan in plans:
        prepared = rail.prepare_transfer(plan.legs, rail.next_valid_start_ns())
        # the byte model is an upper bound of the real signed bytes, and a close one
        assert prepared.size <= plan.estimated_bytes <= prepared.size + 120
        assert rail.submit(prepared).result is SubmitResult.ACCEPTED
        fate = rail.fate(prepared.transaction_id, prepared.window)
        assert (fate.verdict, fate.status) == (Verdict.SETTLED, "SUCCESS")
    assert [world.net.token_balance(leg.account[2], world.token.num) for leg in legs] == \
        [leg.amount for leg in legs]


def test_the_byte_model_holds_for_an_ecdsa_payer_and_the_largest_amounts(world):
    ecdsa = PrivateKey.generate_ecdsa()
    payer, _ = world.holder(key=ecdsa)
    world.net.ledger.relationships[(payer.num, world.token.num)].balance = 10**9
    world.client.set_operator(payer, ecdsa)
    rail = HtsRail(client=world.client, lookup_client=world.fresh_client(), payer=payer,
                   token=world.token, signer=LocalHederaSigner(ecdsa),
                   history=StandinHistory(world.net), clock=world.net.ledger.clock.now)
    big = [HtsLeg(i, (0, 0, world.holder()[0].num), 2**50 + i) for i in range(9)]
    prepared = rail.prepare_transfer(big, rail.next_valid_start_ns())
    assert prepared.size <= estimate_bytes((0, 0, payer.num), big, HtsLimits())
    assert rail.submit(prepared).result is SubmitResult.ACCEPTED


def test_an_unassociated_holder_fails_the_transfer_and_is_paid_by_airdrop_instead(world):
    rail = _rail(world)
    legs = [*_legs(world, 2), HtsLeg(9, (0, 0, world.holder(associated=False)[0].num), 50)]
    transfer = rail.prepare_transfer(legs, rail.next_valid_start_ns())
    rail.submit(transfer)
    # the whole transfer failed, for a holder reason that an airdrop answers
    fate = rail.fate(transfer.transaction_id, transfer.window)
    assert fate.status == "TOKEN_NOT_ASSOCIATED_TO_ACCOUNT"
    assert classify_status(fate.status) is FailureClass.HOLDER and wants_airdrop(fate.status)
    assert world.net.token_balance(legs[0].account[2], world.token.num) == 0
    # the failed TransactionId is settled, so a new one is safe: the airdrop pays the
    # associated holders now and leaves a pending airdrop for the newcomer
    airdrop = rail.prepare_airdrop(legs, rail.next_valid_start_ns())
    rail.submit(airdrop)
    assert rail.fate(airdrop.transaction_id, airdrop.window).status == "SUCCESS"
    assert world.net.token_balance(legs[0].account[2], world.token.num) == legs[0].amount
    assert world.net.ledger.pending_airdrops == {
        (world.treasury.num, legs[2].account[2], world.token.num): 50}


def test_a_lost_answer_is_found_by_its_transaction_id_and_a_resubmission_pays_nobody_twice(
        world):
    rail = _rail(world)
    [leg] = _legs(world, 1)
    prepared = rail.prepare_transfer([leg], rail.next_valid_start_ns())
    # the node executes, the answer is lost: the rail cannot know, so it says UNKNOWN
    world.net.drop_responses(1)
    assert rail.submit(prepared).result is SubmitResult.UNKNOWN
    assert rail.fate(prepared.transaction_id, prepared.window).status == "SUCCESS"
    # sending the same TransactionId again (another worker, a retry) is deduplicated
    again = _rail(world, own_client=True)
    assert again.submit(prepared).result is SubmitResult.ALREADY_SUBMITTED
    assert world.net.token_balance(leg.account[2], world.token.num) == leg.amount


def test_busy_nodes_are_ridden_out_and_a_short_payer_is_a_distribution_failure(world):
    rail = _rail(world)
    world.net.busy(2)
    [leg] = _legs(world, 1)
    prepared = rail.prepare_transfer([leg], rail.next_valid_start_ns())
    assert rail.submit(prepared).result is SubmitResult.ACCEPTED
    too_much = [HtsLeg(1, leg.account, 10**13)]
    short = rail.prepare_transfer(too_much, rail.next_valid_start_ns())
    rail.submit(short)
    status = rail.fate(short.transaction_id, short.window).status
    assert status == "INSUFFICIENT_TOKEN_BALANCE"
    assert classify_status(status) is FailureClass.DISTRIBUTION


def test_crash_after_recording_before_submitting_waits_for_proof_then_pays_once(world):
    history = StandinHistory(world.net)
    rail = _rail(world, history)
    [leg] = _legs(world, 1)
    # the TransactionId was recorded, then the worker died before submitting it
    recorded = rail.prepare_transfer([leg], rail.next_valid_start_ns())
    # while its window is open it may still execute (someone may hold the signed bytes)
    assert rail.fate(recorded.transaction_id, recorded.window).verdict is Verdict.IN_FLIGHT
    # the window closes, but the Mirror Node lags behind it: still no proof
    world.net.ledger.clock.advance(recorded.window.valid_seconds + 15)
    history.lag_seconds = 60
    assert rail.fate(recorded.transaction_id, recorded.window).verdict is Verdict.IN_FLIGHT
    # the Mirror Node catches up and has no record: it never executed, and never will
    history.lag_seconds = 0
    assert rail.fate(recorded.transaction_id, recorded.window).verdict is Verdict.DEAD
    late = _rail(world).submit(recorded)
    assert (late.result, late.code) == (SubmitResult.REFUSED, "TRANSACTION_EXPIRED")
    # only now is a new TransactionId used; the holder is paid once
    fresh = rail.prepare_transfer([leg], rail.next_valid_start_ns())
    assert fresh.transaction_id != recorded.transaction_id
    rail.submit(fresh)
    assert rail.fate(fresh.transaction_id, fresh.window).status == "SUCCESS"
    assert world.net.token_balance(leg.account[2], world.token.num) == leg.amount


def test_crash_after_submitting_is_settled_from_the_mirror_once_receipts_are_gone(world):
    rail = _rail(world)
    [leg] = _legs(world, 1)
    prepared = rail.prepare_transfer([leg], rail.next_valid_start_ns())
    assert rail.submit(prepared).result is SubmitResult.ACCEPTED
    # the worker died before reading the receipt; it restarts after the nodes forgot it
    world.net.ledger.clock.advance(400)
    assert rail.receipt_status(prepared.transaction_id) is None
    fate = rail.fate(prepared.transaction_id, prepared.window)
    assert (fate.verdict, fate.status) == (Verdict.SETTLED, "SUCCESS")


def test_the_local_hedera_signer_keeps_its_key_to_itself(world):
    key = PrivateKey.generate_ed25519()
    signer = LocalHederaSigner.from_string(key.to_string_der())
    assert key.to_string_raw() not in repr(signer)
    assert signer.public_key.to_bytes_raw() == key.public_key().to_bytes_raw()
    with pytest.raises(TypeError):
        pickle.dumps(signer)
    with pytest.raises(SignerConfigError, match="malformed") as bad:
        LocalHederaSigner.from_string("not-a-key-but-maybe-a-secret")
    assert "secret" not in str(bad.value)


def test_the_commitment_goes_to_an_hcs_topic_with_the_same_exactly_once_lifecycle(world):
    from uuid import UUID

    from hiero_sdk_python.consensus.topic_create_transaction import TopicCreateTransaction

    from domain.hts_commitment import commitment_message
    topic = TopicCreateTransaction().execute(world.client).topic_id
    rail = _rail(world)
    message = commitment_message(distribution_id=UUID(int=7), merkle_root="0x" + "ab" * 32,
                                 token=str(world.token), total_net=10**12, leaf_count=3)
    prepared = rail.prepare_commitment(topic, message, rail.next_valid_start_ns())
    assert rail.submit(prepared).result is SubmitResult.ACCEPTED
    assert rail.submit(prepared).result is SubmitResult.ALREADY_SUBMITTED
    assert rail.fate(prepared.transaction_id, prepared.window).status == "SUCCESS"
    assert world.net.ledger.topics[topic.num].messages == [message]
    assert b'"root":"0x' + b"ab" * 32 + b'"' in message
