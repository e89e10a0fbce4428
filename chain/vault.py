"""PayoutVault calls: the compact batch calldata and typed wrappers around announce/payBatch/claim.

Batch layout (see the NatSpec of PayoutVault): one word per leaf, `account << 96 | amount`;
indices implied (`firstIndex + i`) for a contiguous batch, else 4 bytes each; OpenZeppelin
multiproof hashes as they are, and its flags bit-packed, 1 bit each instead of a 32-byte bool.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

from eth_abi.abi import decode, encode
from eth_utils.crypto import keccak
from web3.contract import Contract
from web3.types import TxReceipt

from chain.contracts import call, send

MAX_BATCH_AMOUNT = (1 << 96) - 1


@dataclass(frozen=True, slots=True)
class Entitlement:
    index: int
    account: str
    amount: int


@dataclass(frozen=True, slots=True)
class BatchCall:
    """`payBatch`/`cashOut` arguments after the distribution id."""

    first_index: int
    indices: bytes
    leaves: list[bytes]
    proof: list[bytes]
    proof_flags: bytes

    def args(self, distribution_id: bytes) -> tuple[bytes, int, bytes, list[bytes], list[bytes],
                                                    bytes]:
        return (distribution_id, self.first_index, self.indices, self.leaves, self.proof,
                self.proof_flags)


PAY_BATCH_TYPES = ["bytes32", "uint256", "bytes", "bytes32[]", "bytes32[]", "bytes"]
PAY_BATCH_SELECTOR = keccak(text=f"payBatch({','.join(PAY_BATCH_TYPES)})")[:4]
# cashOut takes the same arguments: leaf amounts are the units redeemed.
CASH_OUT_SELECTOR = keccak(text=f"cashOut({','.join(PAY_BATCH_TYPES)})")[:4]


def encode_pay_batch(distribution_id: bytes, batch: BatchCall) -> bytes:
    """payBatch calldata with eth_abi directly: web3's encode_abi validates every argument
    against the ABI and costs ~45 ms for a 400-leaf batch; this costs ~1 ms."""
    return PAY_BATCH_SELECTOR + encode(PAY_BATCH_TYPES, list(batch.args(distribution_id)))


def encode_cash_out(distribution_id: bytes, batch: BatchCall) -> bytes:
    """cashOut calldata, encoded as payBatch's."""
    return CASH_OUT_SELECTOR + encode(PAY_BATCH_TYPES, list(batch.args(distribution_id)))


def pack_leaf(account: str, amount: int) -> bytes:
    if not 0 <= amount <= MAX_BATCH_AMOUNT:
        raise ValueError(f"a batched amount must fit in 96 bits, got {amount}")
    return bytes.fromhex(account[2:]) + amount.to_bytes(12, "big")


def pack_flags(flags: Sequence[bool]) -> bytes:
    out = bytearray((len(flags) + 7) // 8)
    for i, flag in enumerate(flags):
        if flag:
            out[i >> 3] |= 1 << (i & 7)
    return bytes(out)


def pack_indices(indices: Sequence[int]) -> bytes:
    """Empty for a contiguous run (the contract implies them), else 4 big-endian bytes each."""
    if all(b - a == 1 for a, b in pairwise(indices)):
        return b""
    return b"".join(i.to_bytes(4, "big") for i in indices)


def build_batch(entries: Sequence[Entitlement], proof: Sequence[bytes],
                flags: Sequence[bool]) -> BatchCall:
    """`entries` in ascending index, as the multiproof's leaves (OpenZeppelin's order)."""
    if not entries:
        raise ValueError("a batch needs at least one entitlement")
    indices = [e.index for e in entries]
    if any(b <= a for a, b in pairwise(indices)):
        raise ValueError("batch indices must be strictly ascending")
    return BatchCall(
        first_index=indices[0],
        indices=pack_indices(indices),
        leaves=[pack_leaf(e.account, e.amount) for e in entries],
        proof=list(proof),
        proof_flags=pack_flags(flags),
    )


def announce(vault: Contract, sender: str, *, distribution_id: bytes, token: str, root: bytes,
             total_net: int, leaf_count: int, claim_deadline: int) -> TxReceipt:
    fn = vault.functions.announce(distribution_id, token, root, total_net, leaf_count,
                                  claim_deadline)
    return send(fn, sender)


def announce_cash_out(vault: Contract, sender: str, *, distribution_id: bytes, token: str,
                      asset: str, principal_per_unit: int, root: bytes, total_net: int,
                      leaf_count: int, claim_deadline: int) -> TxReceipt:
    fn = vault.functions.announceCashOut(distribution_id, token, asset, principal_per_unit, root,
                                         total_net, leaf_count, claim_deadline)
    return send(fn, sender)


def pay_batch(vault: Contract, sender: str, distribution_id: bytes, batch: BatchCall, *,
              gas: int | None = None) -> TxReceipt:
    return send(vault.functions.payBatch(*batch.args(distribution_id)), sender, gas=gas)


def cash_out(vault: Contract, sender: str, distribution_id: bytes, batch: BatchCall, *,
             gas: int | None = None) -> TxReceipt:
    return send(vault.functions.cashOut(*batch.args(distribution_id)), sender, gas=gas)


def claim(vault: Contract, sender: str, distribution_id: bytes, entry: Entitlement,
          proof: Sequence[bytes]) -> TxReceipt:
    fn = vault.functions.claim(distribution_id, entry.index, entry.account, entry.amount,
                               list(proof))
    return send(fn, sender)


PAID_WORDS_SELECTOR = keccak(text="paidWords(bytes32,uint256,uint256)")[:4]


def _words(first: int, count: int) -> tuple[int, int]:
    """The bitmap words [lo, lo + n) that leaves [first, first + count) fall in."""
    lo, hi = first >> 8, (first + count - 1) >> 8
    return lo, hi - lo + 1


def _set_bits(words: Sequence[int], lo: int, first: int, count: int) -> list[int]:
    return [i for i in range(first, first + count) if words[(i >> 8) - lo] >> (i & 255) & 1]


def encode_paid_words(distribution_id: bytes, first: int, count: int) -> bytes:
    """`paidWords` calldata covering leaves [first, first + count), for a raw eth_call."""
    return PAID_WORDS_SELECTOR + encode(["bytes32", "uint256", "uint256"],
                                        [distribution_id, *_words(first, count)])


def decode_paid_indices(raw: bytes, first: int, count: int) -> list[int]:
    """Indices in [first, first + count) whose bit is set, from `paidWords`' return data."""
    (words,) = decode(["uint256[]"], raw)
    return _set_bits(words, _words(first, count)[0], first, count)


def paid_indices(vault: Contract, distribution_id: bytes, first: int, count: int) -> list[int]:
    """Indices in [first, first + count) whose bit is set, from one bitmap read."""
    if count <= 0:
        return []
    lo, n = _words(first, count)
    words: list[int] = call(vault.functions.paidWords(distribution_id, lo, n))
    return _set_bits(words, lo, first, count)
