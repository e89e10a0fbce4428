"""HTS batch planning: which holders share one TransferTransaction (or TokenAirdrop).

Two limits bind a native transfer, and neither is gas (domain/planning.py plans vault calls):
- at most 10 token balance changes in one transaction (`tokens.maxTokenTransferListSize`):
  9 recipients plus the payout account's one debit;
- at most 6,144 bytes for the signed transaction, signatures included.
With one signature the count binds long before the bytes (9 legs are ~0.5 KB); the byte model
matters when a custodian adds signatures or an operator adds a memo, and it is what makes a
plan provably submittable rather than usually so.

The byte model is protobuf arithmetic, exact for the part that grows (each leg is an
`AccountAmount` in the token's `TokenTransferList`: the account id's non-zero shard/realm/num
varints and the amount's zig-zag varint), plus fixed upper bounds for the envelope and for one
signature pair. tests/hedera_rail checks it against the bytes the SDK really sends: never
below, and close above.

Pure: account ids are (shard, realm, num) triples; the chain layer maps them to SDK types.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from domain import accounts
from domain.entitlements import Entitlement
from domain.errors import InvalidInput
from domain.planning import BatchPlan

MAX_TOKEN_BALANCE_CHANGES = 10
MAX_TRANSACTION_BYTES = 6_144
# Everything but the legs, the memo and the signatures: TransactionID (payer + valid start),
# node account, fee, valid duration, the token id and every wrapper's tag and length. An
# upper bound, checked against the SDK's bytes in tests.
ENVELOPE_MAX_BYTES = 160
# One SignaturePair in the SignatureMap: a 33-byte key prefix (ECDSA compressed; ED25519's is
# 32) and a 64-byte signature, with tags and lengths.
SIGNATURE_MAX_BYTES = 105

AccountRef = tuple[int, int, int]  # shard, realm, num


@dataclass(frozen=True, slots=True)
class HtsLeg:
    """One holder's payment: the leaf it settles, the Hedera account and the amount."""

    leaf_index: int
    account: AccountRef
    amount: int

    def __post_init__(self) -> None:
        if type(self.amount) is not int or self.amount <= 0:
            raise InvalidInput(f"leaf {self.leaf_index}: an HTS payment must be a positive int")
        if len(self.account) != 3 or min(self.account) < 0 or self.account[2] == 0:
            raise InvalidInput(f"leaf {self.leaf_index}: {self.account} is not an account id")


@dataclass(frozen=True, slots=True)
class HtsLimits:
    max_balance_changes: int = MAX_TOKEN_BALANCE_CHANGES
    max_transaction_bytes: int = MAX_TRANSACTION_BYTES
    signatures: int = 1  # a custodian's multi-key account signs more than once
    memo_bytes: int = 0

    def __post_init__(self) -> None:
        if not 2 <= self.max_balance_changes <= MAX_TOKEN_BALANCE_CHANGES:
            raise InvalidInput("an HTS transfer holds 2..10 token balance changes")
        if not 0 < self.max_transaction_bytes <= MAX_TRANSACTION_BYTES:
            raise InvalidInput(f"an HTS transaction holds at most {MAX_TRANSACTION_BYTES} bytes")
        if self.signatures < 1 or self.memo_bytes < 0 or self.memo_bytes > 100:
            raise InvalidInput("signatures must be >= 1 and a memo at most 100 bytes")


@dataclass(slots=True)
class HtsBatchPlan:
    number: int
    legs: list[HtsLeg] = field(default_factory=list)
    estimated_bytes: int = 0

    @property
    def total(self) -> int:
        return sum(leg.amount for leg in self.legs)


def _varint_len(value: int) -> int:
    return max(1, (value.bit_length() + 6) // 7)


def _int64_field(value: int) -> int:
    """A proto3 int64 field: absent when zero; negative values take ten bytes."""
    if value == 0:
        return 0
    return 1 + _varint_len(value if value > 0 else value + (1 << 64))


def _sint64_field(value: int) -> int:
    if value == 0:
        return 0
    zigzag = (value << 1) ^ (value >> 63)
    return 1 + _varint_len(zigzag & ((1 << 64) - 1))


def _message_field(inner: int) -> int:
    return 1 + _varint_len(inner) + inner


def leg_bytes(account: AccountRef, amount: int) -> int:
    """Exact size of one AccountAmount inside a TokenTransferList."""
    account_id = sum(_int64_field(part) for part in account)
    return _message_field(_message_field(account_id) + _sint64_field(amount))


def estimate_bytes(payer: AccountRef, legs: list[HtsLeg], limits: HtsLimits) -> int:
    """An upper bound of the signed transaction's size (see the module docstring)."""
    total = sum(leg.amount for leg in legs)
    body = (ENVELOPE_MAX_BYTES + limits.memo_bytes + leg_bytes(payer, -total)
            + sum(leg_bytes(leg.account, leg.amount) for leg in legs))
    return body + limits.signatures * SIGNATURE_MAX_BYTES


def plan_hts_batches(payer: AccountRef, legs: Iterable[HtsLeg],
                     limits: HtsLimits | None = None) -> Iterator[HtsBatchPlan]:
    """Cut the ordered legs into batches that fit both limits, keeping their order.

    Greedy and contiguous, so the same entitlements always give the same batches (and the
    same batch ids). An account appears at most once per transaction (the network refuses
    a repeated account), so a repeat starts the next batch; the payer is never a recipient.
    """
    limits = limits or HtsLimits()
    recipients_max = limits.max_balance_changes - 1
    current = HtsBatchPlan(number=0)
    for leg in legs:
        if leg.account == payer:
            raise InvalidInput(f"leaf {leg.leaf_index}: the payout account cannot pay itself")
        alone = estimate_bytes(payer, [leg], limits)
        if alone > limits.max_transaction_bytes:
            raise InvalidInput(f"leaf {leg.leaf_index}: one payment does not fit"
                               f" {limits.max_transaction_bytes} bytes with these limits")
        candidate = [*current.legs, leg]
        size = estimate_bytes(payer, candidate, limits)
        repeated = any(other.account == leg.account for other in current.legs)
        if current.legs and (len(candidate) > recipients_max or repeated
                             or size > limits.max_transaction_bytes):
            yield current
            current = HtsBatchPlan(number=current.number + 1)
            candidate, size = [leg], alone
        current.legs, current.estimated_bytes = candidate, size
    if current.legs:
        yield current


# --- at snapshot time: an HTS distribution's batches -----------------------------------------

# The payout account and holders named by an ECDSA alias are not known as account numbers when
# the snapshot is frozen (the worker resolves them): they are sized as the widest account id
# (num of 2**63 - 1, nine varint bytes), so the estimate stays an upper bound.
_WIDEST_NUM = (1 << 63) - 1
SIZING_PAYER: AccountRef = (0, 0, _WIDEST_NUM)


def sizing_account(address: str, leaf_index: int) -> AccountRef:
    """The account a leg is sized with: a long-zero address's own number, else one as wide
    as the widest (distinct per leaf: two holders are never the same account)."""
    account = accounts.hedera_id(address)
    if account is not None and 0 < int(account.rsplit(".", 1)[1]) < _WIDEST_NUM - (1 << 40):
        return (0, 0, int(account.rsplit(".", 1)[1]))
    return (0, 0, _WIDEST_NUM - 1 - leaf_index)


def plan_hts_snapshot(entitlements: Iterable[Entitlement],
                      limits: HtsLimits | None = None) -> Iterator[BatchPlan]:
    """An HTS distribution's batches: each is one TransferTransaction's worth of leaves as
    `plan_hts_batches` cuts them (≤ 9 recipients, ≤ 6,144 bytes), so a batch is one job and,
    unless a holder fails, one transaction. Skipped holders ride along with the batch they
    fall in, as the vault planner's (domain.planning.plan_batches) do; streamed, in order."""
    read: deque[Entitlement] = deque()

    def legs() -> Iterator[HtsLeg]:
        for e in entitlements:
            read.append(e)
            if e.leaf_index is not None:
                # An eligible leaf's net is positive; max() only keeps the sizing total.
                yield HtsLeg(e.leaf_index, sizing_account(e.account, e.leaf_index),
                             max(e.net, 1))

    held: BatchPlan | None = None
    number = first_leaf = 0
    for plan in plan_hts_batches(SIZING_PAYER, legs(), limits):
        last = plan.legs[-1].leaf_index
        batch = BatchPlan(number=number, first_leaf=first_leaf)
        while read and (read[0].leaf_index is None or read[0].leaf_index <= last):
            _add(batch, read.popleft())
        if held is not None:
            yield held
        held, number, first_leaf = batch, number + 1, first_leaf + batch.leaf_count
    held = held or BatchPlan(number=0, first_leaf=0)
    while read:  # skipped holders after the last leaf (or every holder, when none is due)
        _add(held, read.popleft())
    if held.holders:
        yield held


def _add(batch: BatchPlan, e: Entitlement) -> None:
    batch.holders.append(e)
    if e.leaf_index is not None:
        batch.leaf_count += 1
        batch.total_net += e.net
