"""What happens at consensus, per transaction type, as the network's handlers do it: every
check first, then every change at once, so a transaction either applies whole or not at all
(a CryptoTransfer with one frozen recipient moves nothing, for anyone).

A failed check raises `Rejected(code)`: the node has already charged the fee, and the code is
the receipt's status. Pure-shape checks the real network runs at precheck (list sizes, sums)
live in `check_shape`.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field

from hiero_sdk_python.hapi.services import (
    basic_types_pb2,
    transaction_pb2,
    transaction_receipt_pb2,
    transaction_record_pb2,
)
from hiero_sdk_python.hapi.services import response_code_pb2 as codes

from devtools.hedera_standin.prechecks import (
    Parsed,
    Rejected,
    entity,
    is_signed_by,
    token_number,
)
from devtools.hedera_standin.state import Account, Key, Ledger, Relationship, Topic

MAX_TOKEN_BALANCE_CHANGES = 10  # tokens.maxTokenTransferListSize (9 recipients + the sender)
MAX_HBAR_CHANGES = 10           # ledger.transfers.maxLen
MAX_PENDING_IDS = 10            # tokens.maxAllowedPendingAirdropsToClaim / ToCancel
MAX_MESSAGE_BYTES = 1_024       # consensus.message.maxBytesAllowed


@dataclass
class Outcome:
    """What a handled transaction changed, for its receipt and record."""

    hbar: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    tokens: dict[int, dict[int, int]] = field(default_factory=lambda: defaultdict(
        lambda: defaultdict(int)))
    pending: list[transaction_record_pb2.PendingAirdropRecord] = field(default_factory=list)
    receipt: transaction_receipt_pb2.TransactionReceipt = field(
        default_factory=transaction_receipt_pb2.TransactionReceipt)


def token_changes(body: transaction_pb2.TransactionBody) -> int:
    lists = _token_lists(body)
    return sum(len(t.transfers) for t in lists)


def airdrop_receivers(ledger: Ledger, body: transaction_pb2.TransactionBody,
                      ) -> dict[str, int]:
    """For an airdrop's fee: how many of its receivers would be left a pending airdrop (not
    associated), and how many of those have none from the sender yet (the association it
    prepays). Nothing for any other kind."""
    if body.WhichOneof("data") != "tokenAirdrop":
        return {}
    pending = new = 0
    for tokens in body.tokenAirdrop.token_transfers:
        token = token_number(tokens.token)
        senders = [entity(leg.accountID) for leg in tokens.transfers if leg.amount < 0]
        for leg in tokens.transfers:
            receiver = entity(leg.accountID)
            if leg.amount > 0 and ledger.relationship(receiver, token) is None:
                pending += 1
                new += not any((s, receiver, token) in ledger.pending_airdrops for s in senders)
    return {"pending": pending, "new_pending": new}


def _token_lists(body: transaction_pb2.TransactionBody) -> list[basic_types_pb2.TokenTransferList]:
    kind = body.WhichOneof("data")
    if kind == "cryptoTransfer":
        return list(body.cryptoTransfer.tokenTransfers)
    if kind == "tokenAirdrop":
        return list(body.tokenAirdrop.token_transfers)
    return []


def check_shape(body: transaction_pb2.TransactionBody) -> None:
    """The checks that need no state: the network runs them at precheck."""
    kind = body.WhichOneof("data")
    if kind == "cryptoTransfer" and len(body.cryptoTransfer.transfers.accountAmounts) > \
            MAX_HBAR_CHANGES:
        raise Rejected(codes.TRANSFER_LIST_SIZE_LIMIT_EXCEEDED)
    if kind == "cryptoTransfer":
        amounts = body.cryptoTransfer.transfers.accountAmounts
        if sum(a.amount for a in amounts) != 0:
            raise Rejected(codes.INVALID_ACCOUNT_AMOUNTS)
        _no_repeats([entity(a.accountID) for a in amounts])
    if token_changes(body) > MAX_TOKEN_BALANCE_CHANGES:
        raise Rejected(codes.TOKEN_TRANSFER_LIST_SIZE_LIMIT_EXCEEDED)
    for tokens in _token_lists(body):
        if not tokens.transfers:
            raise Rejected(codes.EMPTY_TOKEN_TRANSFER_ACCOUNT_AMOUNTS)
        if sum(a.amount for a in tokens.transfers) != 0:
            raise Rejected(codes.TRANSFERS_NOT_ZERO_SUM_FOR_TOKEN)
        _no_repeats([entity(a.accountID) for a in tokens.transfers])
    if kind in ("tokenClaimAirdrop", "tokenCancelAirdrop"):
        ids = getattr(body, kind).pending_airdrops
        if not ids:
            raise Rejected(codes.EMPTY_PENDING_AIRDROP_ID_LIST)
        if len(ids) > MAX_PENDING_IDS:
            raise Rejected(codes.PENDING_AIRDROP_ID_LIST_TOO_LONG)


def _no_repeats(accounts: list[int]) -> None:
    if len(set(accounts)) != len(accounts):
        raise Rejected(codes.ACCOUNT_REPEATED_IN_ACCOUNT_AMOUNTS)


def handle(ledger: Ledger, parsed: Parsed, consensus_time: float) -> Outcome:
    body, out = parsed.body, Outcome()
    kind = body.WhichOneof("data")
    if kind == "cryptoTransfer":
        _transfer(ledger, parsed, out)
    elif kind == "tokenAirdrop":
        _airdrop(ledger, parsed, out)
    elif kind == "tokenClaimAirdrop":
        _claim(ledger, parsed, out)
    elif kind == "tokenCancelAirdrop":
        _cancel(ledger, parsed)
    elif kind == "tokenAssociate":
        _associate(ledger, parsed)
    elif kind == "consensusCreateTopic":
        _create_topic(ledger, parsed, out)
    elif kind == "consensusSubmitMessage":
        _submit_message(ledger, parsed, out, consensus_time)
    else:
        raise Rejected(codes.NOT_SUPPORTED)
    return out


def _require_signature(ledger: Ledger, parsed: Parsed, account: int) -> None:
    if not is_signed_by(_live(ledger, account).key, parsed.body_bytes, parsed.sig_map):
        raise Rejected(codes.INVALID_SIGNATURE)


def _live(ledger: Ledger, account: int) -> Account:
    found = ledger.accounts.get(account)
    if found is None:
        raise Rejected(codes.INVALID_ACCOUNT_ID)
    if found.deleted:
        raise Rejected(codes.ACCOUNT_DELETED)
    return found


def _usable(ledger: Ledger, account: int, token: int) -> Relationship:
    """The relationship a token balance change needs: associated, unfrozen, KYC granted."""
    _live(ledger, account)
    if token not in ledger.tokens:
        raise Rejected(codes.INVALID_TOKEN_ID)
    rel = ledger.relationship(account, token)
    if rel is None:
        raise Rejected(codes.TOKEN_NOT_ASSOCIATED_TO_ACCOUNT)
    if rel.frozen:
        raise Rejected(codes.ACCOUNT_FROZEN_FOR_TOKEN)
    if not rel.kyc_granted:
        raise Rejected(codes.ACCOUNT_KYC_NOT_GRANTED_FOR_TOKEN)
    return rel


def _check_decimals(ledger: Ledger, tokens: basic_types_pb2.TokenTransferList,
                    token: int) -> None:
    if tokens.HasField("expected_decimals") and \
            tokens.expected_decimals.value != ledger.tokens[token].decimals:
        raise Rejected(codes.UNEXPECTED_TOKEN_DECIMALS)


def _transfer(ledger: Ledger, parsed: Parsed, out: Outcome) -> None:
    body = parsed.body.cryptoTransfer
    for leg in body.transfers.accountAmounts:
        account = entity(leg.accountID)
        holder = _live(ledger, account)
        if leg.amount < 0:
            _require_signature(ledger, parsed, account)
            if holder.tinybars < -leg.amount:
                raise Rejected(codes.INSUFFICIENT_ACCOUNT_BALANCE)
        out.hbar[account] += leg.amount
    for tokens in body.tokenTransfers:
        token = token_number(tokens.token)
        if token not in ledger.tokens:
            raise Rejected(codes.INVALID_TOKEN_ID)
        _check_decimals(ledger, tokens, token)
        for leg in tokens.transfers:
            account = entity(leg.accountID)
            rel = _usable(ledger, account, token)
            if leg.amount < 0:
                _require_signature(ledger, parsed, account)
                if rel.balance < -leg.amount:
                    raise Rejected(codes.INSUFFICIENT_TOKEN_BALANCE)
            out.tokens[token][account] += leg.amount
    _apply(ledger, out)


def _airdrop(ledger: Ledger, parsed: Parsed, out: Outcome) -> None:
    """HIP-904: associated receivers are paid now; the others get a pending airdrop that
    moves nothing until they claim it (the sender's balance is checked now and at claim)."""
    for tokens in parsed.body.tokenAirdrop.token_transfers:
        token = token_number(tokens.token)
        if token not in ledger.tokens:
            raise Rejected(codes.INVALID_TOKEN_ID)
        _check_decimals(ledger, tokens, token)
        senders = [leg for leg in tokens.transfers if leg.amount < 0]
        if len(senders) != 1:
            raise Rejected(codes.AIRDROP_CONTAINS_MULTIPLE_SENDERS_FOR_A_TOKEN)
        sender = entity(senders[0].accountID)
        sender_rel = _usable(ledger, sender, token)
        _require_signature(ledger, parsed, sender)
        if sender_rel.balance < -senders[0].amount:
            raise Rejected(codes.INSUFFICIENT_TOKEN_BALANCE)
        for leg in tokens.transfers:
            receiver = entity(leg.accountID)
            if leg.amount <= 0:
                continue
            _live(ledger, receiver)
            if ledger.relationship(receiver, token) is None:
                pid = basic_types_pb2.PendingAirdropId(
                    sender_id=senders[0].accountID, receiver_id=leg.accountID,
                    fungible_token_type=tokens.token)
                out.pending.append(transaction_record_pb2.PendingAirdropRecord(
                    pending_airdrop_id=pid,
                    pending_airdrop_value=basic_types_pb2.PendingAirdropValue(
                        amount=leg.amount)))
                continue
            _usable(ledger, receiver, token)
            out.tokens[token][receiver] += leg.amount
            out.tokens[token][sender] -= leg.amount
    _apply(ledger, out)
    for record in out.pending:
        pid = record.pending_airdrop_id
        key = (entity(pid.sender_id), entity(pid.receiver_id),
               token_number(pid.fungible_token_type))
        ledger.pending_airdrops[key] = ledger.pending_airdrops.get(key, 0) + \
            record.pending_airdrop_value.amount


def _pending_keys(ledger: Ledger, ids: list[basic_types_pb2.PendingAirdropId]) -> list[
        tuple[int, int, int]]:
    keys = []
    for pid in ids:
        if not pid.HasField("fungible_token_type"):
            raise Rejected(codes.NOT_SUPPORTED)  # the stand-in has no NFTs
        key = (entity(pid.sender_id), entity(pid.receiver_id),
               token_number(pid.fungible_token_type))
        if key not in ledger.pending_airdrops:
            raise Rejected(codes.INVALID_PENDING_AIRDROP_ID)
        keys.append(key)
    return keys


def _claim(ledger: Ledger, parsed: Parsed, out: Outcome) -> None:
    keys = _pending_keys(ledger, list(parsed.body.tokenClaimAirdrop.pending_airdrops))
    for sender, receiver, token in keys:
        _require_signature(ledger, parsed, receiver)
        amount = ledger.pending_airdrops[(sender, receiver, token)]
        if _usable(ledger, sender, token).balance < amount:
            raise Rejected(codes.INSUFFICIENT_TOKEN_BALANCE)
        out.tokens[token][sender] -= amount
        out.tokens[token][receiver] += amount
    for _sender, receiver, token in keys:  # claiming associates the receiver (HIP-904)
        ledger.relationships.setdefault((receiver, token), _new_relationship(ledger, token))
    _apply(ledger, out)
    for key in keys:
        del ledger.pending_airdrops[key]


def _cancel(ledger: Ledger, parsed: Parsed) -> None:
    keys = _pending_keys(ledger, list(parsed.body.tokenCancelAirdrop.pending_airdrops))
    for sender, _receiver, _token in keys:
        _require_signature(ledger, parsed, sender)
    for key in keys:
        del ledger.pending_airdrops[key]


def _new_relationship(ledger: Ledger, token: int) -> Relationship:
    return Relationship(kyc_granted=not ledger.tokens[token].kyc_required)


def _associate(ledger: Ledger, parsed: Parsed) -> None:
    body = parsed.body.tokenAssociate
    account = entity(body.account)
    _live(ledger, account)
    _require_signature(ledger, parsed, account)
    tokens = [token_number(t) for t in body.tokens]
    for token in tokens:
        if token not in ledger.tokens:
            raise Rejected(codes.INVALID_TOKEN_ID)
        if ledger.relationship(account, token) is not None:
            raise Rejected(codes.TOKEN_ALREADY_ASSOCIATED_TO_ACCOUNT)
    for token in tokens:
        ledger.relationships[(account, token)] = _new_relationship(ledger, token)


def _create_topic(ledger: Ledger, parsed: Parsed, out: Outcome) -> None:
    body = parsed.body.consensusCreateTopic
    submit_key = None
    if body.HasField("submitKey"):
        submit_key = key_from_proto(body.submitKey)
    number = ledger.new_entity_number()
    ledger.topics[number] = Topic(submit_key)
    out.receipt.topicID.topicNum = number


def _submit_message(ledger: Ledger, parsed: Parsed, out: Outcome,
                    consensus_time: float) -> None:
    body = parsed.body.consensusSubmitMessage
    topic = ledger.topics.get(int(body.topicID.topicNum))
    if topic is None:
        raise Rejected(codes.INVALID_TOPIC_ID)
    if not body.message:
        raise Rejected(codes.INVALID_TOPIC_MESSAGE)
    if len(body.message) > MAX_MESSAGE_BYTES:
        raise Rejected(codes.MESSAGE_SIZE_TOO_LARGE)
    if topic.submit_key is not None and not is_signed_by(topic.submit_key, parsed.body_bytes,
                                                         parsed.sig_map):
        raise Rejected(codes.INVALID_SIGNATURE)
    topic.sequence += 1
    # Stand-in simplification: a SHA-384 chain over (previous hash, sequence, time, message);
    # the network's version-3 running hash hashes more fields in a fixed layout.
    topic.running_hash = hashlib.sha384(
        topic.running_hash + topic.sequence.to_bytes(8, "big")
        + repr(consensus_time).encode() + body.message).digest()
    topic.messages.append(bytes(body.message))
    topic.times.append(consensus_time)
    topic.running_hashes.append(topic.running_hash)
    out.receipt.topicSequenceNumber = topic.sequence
    out.receipt.topicRunningHash = topic.running_hash
    out.receipt.topicRunningHashVersion = 3


def key_from_proto(key: basic_types_pb2.Key) -> Key:
    if key.ed25519:
        return Key("ed25519", bytes(key.ed25519))
    if key.ECDSA_secp256k1:
        return Key("ecdsa_secp256k1", bytes(key.ECDSA_secp256k1))
    raise Rejected(codes.KEY_NOT_PROVIDED)


def _apply(ledger: Ledger, out: Outcome) -> None:
    for account, delta in out.hbar.items():
        ledger.accounts[account].tinybars += delta
    for token, legs in out.tokens.items():
        for account, delta in legs.items():
            ledger.relationships[(account, token)].balance += delta
