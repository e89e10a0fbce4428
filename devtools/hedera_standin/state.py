"""The stand-in network's ledger: accounts, HTS tokens and relationships, pending airdrops,
topics, and the transactions it has reached consensus on. In memory; one lock for all of it.

Entities live in shard 0, realm 0 and are named by their number (0.0.num), which is all a
single-node stand-in needs. The clock is the stand-in's consensus time: wall time plus an
offset a test advances, so "the validity window has passed" happens without sleeping.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from hiero_sdk_python.hapi.services import transaction_record_pb2

NODE_ACCOUNT = 3  # 0.0.3, the one consensus node; it receives the fees


@dataclass(frozen=True, slots=True)
class Key:
    """A simple key: ED25519 (32 bytes) or ECDSA secp256k1 (33 bytes, compressed)."""

    kind: str  # "ed25519" | "ecdsa_secp256k1"
    raw: bytes


@dataclass(slots=True)
class Account:
    key: Key
    tinybars: int
    deleted: bool = False


@dataclass(slots=True)
class Token:
    treasury: int
    decimals: int
    kyc_required: bool  # the token has a KYC key: every relationship starts without KYC


@dataclass(slots=True)
class Relationship:
    """An account's association with a token (HTS keeps a balance per association)."""

    balance: int = 0
    frozen: bool = False
    kyc_granted: bool = True


@dataclass(slots=True)
class Topic:
    submit_key: Key | None
    sequence: int = 0
    running_hash: bytes = b"\x00" * 48
    messages: list[bytes] = field(default_factory=list)  # message i has sequence i + 1
    times: list[float] = field(default_factory=list)  # and reached consensus at times[i]
    running_hashes: list[bytes] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class TxKey:
    """A TransactionId as the network deduplicates it: payer and valid start."""

    payer: int
    seconds: int
    nanos: int


@dataclass(slots=True)
class Executed:
    """A transaction that reached consensus, with the record the network keeps for it."""

    consensus_time: float
    record: transaction_record_pb2.TransactionRecord


class Clock:
    """Consensus time in seconds: wall time plus an offset that tests advance."""

    def __init__(self) -> None:
        self._offset = 0.0

    def now(self) -> float:
        return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        self._offset += seconds


@dataclass
class Ledger:
    clock: Clock = field(default_factory=Clock)
    lock: threading.RLock = field(default_factory=threading.RLock)
    accounts: dict[int, Account] = field(default_factory=dict)
    tokens: dict[int, Token] = field(default_factory=dict)
    relationships: dict[tuple[int, int], Relationship] = field(default_factory=dict)
    # (sender, receiver, token) -> amount still pending (HIP-904)
    pending_airdrops: dict[tuple[int, int, int], int] = field(default_factory=dict)
    topics: dict[int, Topic] = field(default_factory=dict)
    executed: dict[TxKey, Executed] = field(default_factory=dict)
    next_entity: int = 1001

    def new_entity_number(self) -> int:
        self.next_entity += 1
        return self.next_entity

    def relationship(self, account: int, token: int) -> Relationship | None:
        return self.relationships.get((account, token))
