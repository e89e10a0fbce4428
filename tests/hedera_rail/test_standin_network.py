"""The STAND-IN Hedera network enforces what the rail relies on, seen through the real SDK:
signatures, TransactionId deduplication and validity window, atomic transfers with the HTS
account flags, the 10-change and 6,144-byte limits, airdrops, topics, fees and faults.
(A stand-in: the real network cannot be reached from here.)"""

from __future__ import annotations

import pytest
from hiero_sdk_python import (
    Hbar,
    PrivateKey,
    ResponseCode,
    TokenAirdropTransaction,
    TransferTransaction,
)
from hiero_sdk_python.consensus.topic_create_transaction import TopicCreateTransaction
from hiero_sdk_python.consensus.topic_message_submit_transaction import (
    TopicMessageSubmitTransaction,
)
from hiero_sdk_python.exceptions import PrecheckError
from hiero_sdk_python.hapi.services import timestamp_pb2
from hiero_sdk_python.query.transaction_get_receipt_query import TransactionGetReceiptQuery
from hiero_sdk_python.tokens.token_airdrop_claim import TokenClaimAirdropTransaction
from hiero_sdk_python.transaction.transaction_id import TransactionId

from devtools.hedera_standin import fees
from tests.hedera_rail.conftest import World


def _tx_id(world: World, seconds_ago: float = 1.0) -> TransactionId:
    start = world.net.ledger.clock.now() - seconds_ago
    whole = int(start)
    return TransactionId(world.treasury, timestamp_pb2.Timestamp(
        seconds=whole, nanos=int((start - whole) * 1e9)))


def _pay(world: World, recipients: list[tuple[object, int]]) -> TransferTransaction:
    tx = TransferTransaction()
    tx.add_token_transfer(world.token, world.treasury, -sum(a for _, a in recipients))
    for account, amount in recipients:
        tx.add_token_transfer(world.token, account, amount)
    return tx


def test_a_transfer_pays_charges_its_fee_and_is_deduplicated_by_its_transaction_id(world):
    alice, _ = world.holder()
    before = world.net.tinybars(world.treasury.num)
    tx = _pay(world, [(alice, 250)]).set_transaction_id(_tx_id(world))
    # the payment executes and the treasury pays the published TokenTransfer fee in hbar
    receipt = tx.execute(world.client)
    assert receipt.status == ResponseCode.SUCCESS
    assert world.balance(alice) == 250
    assert world.net.tinybars(world.treasury.num) == before - fees.fee_tinybars(
        "cryptoTransfer", token_changes=2)
    # the same TransactionId again, even with another body, is refused without executing
    again = _pay(world, [(alice, 999)]).set_transaction_id(tx.transaction_id)
    with pytest.raises(PrecheckError) as refused:
        again.execute(world.client)
    assert refused.value.status == ResponseCode.DUPLICATE_TRANSACTION
    assert world.balance(alice) == 250


def test_only_the_payers_key_over_these_exact_bytes_is_accepted(world):
    alice, alice_key = world.holder()
    # signed by someone else's key: the SDK sends it, the node refuses it at precheck
    tx = _pay(world, [(alice, 1)]).set_transaction_id(_tx_id(world)).freeze_with(world.client)
    tx.sign(alice_key)
    raw = tx._to_proto()
    assert world.net.node.submit(raw).nodeTransactionPrecheckCode == ResponseCode.INVALID_SIGNATURE
    # an ECDSA secp256k1 payer signs keccak-256 of the body: accepted
    ecdsa = PrivateKey.generate_ecdsa()
    bob, _ = world.holder(key=ecdsa)
    world.client.set_operator(bob, ecdsa)
    bob_tx = TransferTransaction().add_hbar_transfer(bob, -5).add_hbar_transfer(alice, 5)
    assert bob_tx.execute(world.client).status == ResponseCode.SUCCESS


def test_the_validity_window_is_enforced_on_the_stand_ins_clock(world):
    alice, _ = world.holder()
    future = _pay(world, [(alice, 1)]).set_transaction_id(_tx_id(world, seconds_ago=-30))
    with pytest.raises(PrecheckError) as early:
        future.execute(world.client)
    assert early.value.status == ResponseCode.INVALID_TRANSACTION_START
    # a transaction signed now and submitted after its 120 s window is refused
    late = _pay(world, [(alice, 1)]).set_transaction_id(_tx_id(world))
    late.freeze_with(world.client).sign(world.treasury_key)
    world.net.ledger.clock.advance(121)
    with pytest.raises(PrecheckError) as expired:
        late.execute(world.client)
    assert expired.value.status == ResponseCode.TRANSACTION_EXPIRED
    assert world.balance(alice) == 0


def test_ten_token_balance_changes_pass_and_eleven_do_not(world):
    holders = [world.holder()[0] for _ in range(10)]
    nine = _pay(world, [(h, 1) for h in holders[:9]]).set_transaction_id(_tx_id(world))
    assert nine.execute(world.client).status == ResponseCode.SUCCESS
    ten = _pay(world, [(h, 1) for h in holders]).set_transaction_id(_tx_id(world, 2))
    with pytest.raises(PrecheckError) as refused:
        ten.execute(world.client)
    assert refused.value.status == ResponseCode.TOKEN_TRANSFER_LIST_SIZE_LIMIT_EXCEEDED


def test_a_transaction_over_6144_bytes_with_its_signatures_is_refused(world):
    alice, _ = world.holder()
    tx = _pay(world, [(alice, 1)]).set_transaction_id(_tx_id(world)).freeze_with(world.client)
    tx.sign(world.treasury_key)
    for _ in range(60):  # ~100 bytes per signature pair
        tx.sign(PrivateKey.generate_ed25519())
    assert tx.size > 6_144
    with pytest.raises(PrecheckError) as refused:
        tx.execute(world.client)
    assert refused.value.status == ResponseCode.TRANSACTION_OVERSIZE


@pytest.mark.parametrize(("setup", "status"), [
    ("frozen", ResponseCode.ACCOUNT_FROZEN_FOR_TOKEN),
    ("no_kyc", ResponseCode.ACCOUNT_KYC_NOT_GRANTED_FOR_TOKEN),
    ("unassociated", ResponseCode.TOKEN_NOT_ASSOCIATED_TO_ACCOUNT),
    ("deleted", ResponseCode.ACCOUNT_DELETED),
    ("short", ResponseCode.INSUFFICIENT_TOKEN_BALANCE),
])
def test_one_bad_recipient_fails_the_whole_transfer_and_the_fee_is_still_charged(
        world, setup, status):
    alice, _ = world.holder()
    bad, _ = world.holder(associated=setup != "unassociated", kyc_granted=setup != "no_kyc")
    if setup == "frozen":
        world.net.set_frozen(bad.num, world.token.num, True)
    if setup == "deleted":
        world.net.delete_account(bad.num)
    amount = 10**13 if setup == "short" else 7
    before = world.net.tinybars(world.treasury.num)
    receipt = _pay(world, [(alice, 7), (bad, amount)]).set_transaction_id(
        _tx_id(world)).execute(world.client)
    # the receipt names the reason; nothing moved for anyone; the payer paid the fee
    assert receipt.status == status
    assert world.balance(alice) == 0
    assert world.net.tinybars(world.treasury.num) < before


def test_an_airdrop_pays_associated_holders_and_leaves_the_rest_pending_until_claimed(world):
    associated, _ = world.holder()
    newcomer, newcomer_key = world.holder(associated=False)
    airdrop = TokenAirdropTransaction()
    airdrop.add_token_transfer(world.token, world.treasury, -30)
    airdrop.add_token_transfer(world.token, associated, 10)
    airdrop.add_token_transfer(world.token, newcomer, 20)
    receipt = airdrop.set_transaction_id(_tx_id(world)).execute(world.client)
    assert receipt.status == ResponseCode.SUCCESS
    assert (world.balance(associated), world.balance(newcomer)) == (10, None)
    [pending] = world.net.ledger.pending_airdrops.items()
    assert pending == ((world.treasury.num, newcomer.num, world.token.num), 20)
    # the newcomer claims (and so associates); the tokens move then
    from hiero_sdk_python.tokens.token_airdrop_pending_id import PendingAirdropId
    world.client.set_operator(newcomer, newcomer_key)
    claim = TokenClaimAirdropTransaction().add_pending_airdrop_id(
        PendingAirdropId(world.treasury, newcomer, world.token))
    assert claim.execute(world.client).status == ResponseCode.SUCCESS
    assert world.balance(newcomer) == 20
    assert world.net.ledger.pending_airdrops == {}


def test_an_airdrop_is_charged_per_holder_left_pending_and_per_association_it_prepays(world):
    associated, _ = world.holder()
    newcomers = [world.holder(associated=False)[0] for _ in range(3)]

    def airdrop(cap: Hbar) -> TokenAirdropTransaction:
        tx = TokenAirdropTransaction()
        tx.add_token_transfer(world.token, world.treasury, -40)
        for account in (associated, *newcomers):
            tx.add_token_transfer(world.token, account, 10)
        tx.transaction_fee = cap
        return tx.set_transaction_id(_tx_id(world))

    # three pending airdrops (HIP-1261: $0.05 each, and $0.05 each for the association they
    # prepay) on top of a 5-change token transfer: ~$0.30, more than a 1-hbar ($0.12) cap
    first_fee = fees.fee_tinybars("tokenAirdrop", 5, pending=3, new_pending=3)
    # in micro-USD: the transfer's $0.001, three accounts beyond two, three times $0.05 + $0.05
    assert first_fee == fees._tinybars(1_000 + 3 * 100 + 3 * (50_000 + 50_000))
    with pytest.raises(PrecheckError) as refused:
        airdrop(Hbar(1)).execute(world.client)
    assert refused.value.status == ResponseCode.INSUFFICIENT_TX_FEE
    assert world.net.ledger.pending_airdrops == {}
    before = world.net.tinybars(world.treasury.num)
    assert airdrop(Hbar(10)).execute(world.client).status == ResponseCode.SUCCESS
    assert world.net.tinybars(world.treasury.num) == before - first_fee
    # again to the same holders: their pending airdrops grow, no association is prepaid twice
    before = world.net.tinybars(world.treasury.num)
    assert airdrop(Hbar(10)).execute(world.client).status == ResponseCode.SUCCESS
    assert world.net.tinybars(world.treasury.num) == before - fees.fee_tinybars(
        "tokenAirdrop", 5, pending=3, new_pending=0)
    assert sorted(world.net.ledger.pending_airdrops.values()) == [20, 20, 20]
    assert world.balance(associated) == 20


def test_a_topic_orders_messages_and_a_receipt_lives_180_seconds(world):
    topic = TopicCreateTransaction().execute(world.client).topic_id
    first = TopicMessageSubmitTransaction().set_topic_id(topic).set_message(b"root-1").execute(
        world.client)
    second = TopicMessageSubmitTransaction().set_topic_id(topic).set_message(b"root-2").execute(
        world.client)
    assert (first.topic_sequence_number, second.topic_sequence_number) == (1, 2)
    assert world.net.ledger.topics[topic.num].messages == [b"root-1", b"root-2"]
    # after 180 s of consensus time a node no longer knows the receipt
    world.net.ledger.clock.advance(181)
    query = TransactionGetReceiptQuery().set_transaction_id(second.transaction_id)
    query.set_max_attempts(1)
    with pytest.raises(Exception, match="RECEIPT_NOT_FOUND"):
        query.execute(world.client)


def test_busy_is_retried_by_the_sdk_and_a_lost_answer_still_executed_once(world):
    alice, _ = world.holder()
    world.net.busy(2)
    receipt = _pay(world, [(alice, 3)]).set_transaction_id(_tx_id(world)).execute(world.client)
    assert receipt.status == ResponseCode.SUCCESS
    # the node executes, then the answer is lost on the way back
    world.net.drop_responses(1)
    lost = _pay(world, [(alice, 4)]).set_transaction_id(_tx_id(world, 2))
    with pytest.raises(Exception):  # noqa: B017 (what the SDK raises is its own business)
        lost.execute(world.client)
    assert world.balance(alice) == 7
    found = TransactionGetReceiptQuery().set_transaction_id(lost.transaction_id).execute(
        world.fresh_client())
    assert found.status == ResponseCode.SUCCESS
