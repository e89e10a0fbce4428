"""What a Hedera node checks before a transaction goes to consensus (its "precheck"): the
bytes parse, fit in 6,144 bytes, name this node, lie inside their validity window, were not
seen before, and carry the payer's signature over the exact body bytes.

Signatures are verified here with `cryptography` directly, not with the SDK's helpers, so the
stand-in does not trust the code it is testing: ED25519 over the body bytes; ECDSA secp256k1
over keccak-256 of the body bytes, as 64 bytes r||s (Hedera's rule for ECDSA keys).
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, encode_dss_signature
from eth_utils.crypto import keccak
from google.protobuf.message import DecodeError
from hiero_sdk_python.hapi.services import (
    basic_types_pb2,
    transaction_contents_pb2,
    transaction_pb2,
)
from hiero_sdk_python.hapi.services import response_code_pb2 as codes

from devtools.hedera_standin.state import Key, TxKey

MAX_TRANSACTION_BYTES = 6_144  # the network's limit, signatures included
MIN_VALID_DURATION = 15
MAX_VALID_DURATION = 180


class Rejected(Exception):
    """The node answers with this response code instead of executing."""

    def __init__(self, code: int) -> None:
        super().__init__(codes.ResponseCodeEnum.Name(code))
        self.code = code


@dataclass(frozen=True, slots=True)
class Parsed:
    body: transaction_pb2.TransactionBody
    body_bytes: bytes
    sig_map: basic_types_pb2.SignatureMap
    signed_bytes: bytes
    tx_key: TxKey


def parse(tx: transaction_pb2.Transaction) -> Parsed:
    if tx.ByteSize() > MAX_TRANSACTION_BYTES:
        raise Rejected(codes.TRANSACTION_OVERSIZE)
    if not tx.signedTransactionBytes:
        raise Rejected(codes.INVALID_TRANSACTION)
    try:
        signed = transaction_contents_pb2.SignedTransaction.FromString(tx.signedTransactionBytes)
        body = transaction_pb2.TransactionBody.FromString(signed.bodyBytes)
    except DecodeError:
        raise Rejected(codes.INVALID_TRANSACTION_BODY) from None
    if not body.HasField("transactionID"):
        raise Rejected(codes.INVALID_TRANSACTION_ID)
    tid = body.transactionID
    start = tid.transactionValidStart
    key = TxKey(entity(tid.accountID), start.seconds, start.nanos)
    return Parsed(body, signed.bodyBytes, signed.sigMap, tx.signedTransactionBytes, key)


def entity(account: basic_types_pb2.AccountID) -> int:
    """0.0.num -> num; the stand-in has one shard and one realm."""
    if account.shardNum or account.realmNum or account.accountNum <= 0:
        raise Rejected(codes.INVALID_ACCOUNT_ID)
    return int(account.accountNum)


def token_number(token: basic_types_pb2.TokenID) -> int:
    if token.shardNum or token.realmNum or token.tokenNum <= 0:
        raise Rejected(codes.INVALID_TOKEN_ID)
    return int(token.tokenNum)


def check_window(body: transaction_pb2.TransactionBody, now: float) -> None:
    duration = body.transactionValidDuration.seconds
    if not MIN_VALID_DURATION <= duration <= MAX_VALID_DURATION:
        raise Rejected(codes.INVALID_TRANSACTION_DURATION)
    start = body.transactionID.transactionValidStart
    valid_start = start.seconds + start.nanos / 1e9
    if valid_start > now:
        raise Rejected(codes.INVALID_TRANSACTION_START)
    if now >= valid_start + duration:
        raise Rejected(codes.TRANSACTION_EXPIRED)


def is_signed_by(key: Key, body_bytes: bytes, sig_map: basic_types_pb2.SignatureMap) -> bool:
    for pair in sig_map.sigPair:
        prefix = pair.pubKeyPrefix
        if not prefix or not key.raw.startswith(prefix):
            continue
        if key.kind == "ed25519" and pair.ed25519 and _ed25519_ok(key.raw, pair.ed25519,
                                                                    body_bytes):
            return True
        if key.kind == "ecdsa_secp256k1" and pair.ECDSA_secp256k1 and _ecdsa_ok(
                key.raw, pair.ECDSA_secp256k1, body_bytes):
            return True
    return False


def _ed25519_ok(raw: bytes, signature: bytes, data: bytes) -> bool:
    try:
        ed25519.Ed25519PublicKey.from_public_bytes(raw).verify(signature, data)
    except (InvalidSignature, ValueError):
        return False
    return True


def _ecdsa_ok(raw: bytes, signature: bytes, data: bytes) -> bool:
    if len(signature) != 64:
        return False
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    try:
        public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256K1(), raw)
        public.verify(encode_dss_signature(r, s), keccak(data),
                      ec.ECDSA(Prehashed(hashes.SHA256())))
    except (InvalidSignature, ValueError):
        return False
    return True
