"""Claims: what a holder whose push payment did not arrive needs to pull it from the vault.

A claim is the holder's committed leaf `(index, account, amount)` (for a cash-out the amount
is the units redeemed; the vault pays their principal), its single-leaf Merkle
proof and the ready-to-sign `claim(bytes32,uint256,address,uint256,bytes32[])` calldata. The
proof comes from the holder's own batch (its leaves and range proof rebuild the committed
root, `PartialTree`), so one claim loads one batch, not the whole distribution.

Only the ledger decides what is unpaid: a leaf the chain has paid or that was claimed is no
claim. The ledger may lag the chain by the ingestor's confirmations; a claim of a leaf paid
meanwhile reverts on-chain with `LeafAlreadyPaid` and costs the holder nothing but gas.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from eth_abi.abi import encode
from eth_utils.crypto import keccak

from app.ledger import PayoutLedger
from chain.encoding import onchain_id
from domain import accounts
from domain.batch import PAID_OUTCOMES, LeafOutcome, PayoutBatch
from domain.distribution import Distribution, Status
from domain.entitlements import leaf_amount
from domain.errors import IllegalTransition, NotFound
from domain.merkle import PartialTree, leaf_hash

CLAIM_TYPES = ["bytes32", "uint256", "address", "uint256", "bytes32[]"]
CLAIM_SELECTOR = keccak(text=f"claim({','.join(CLAIM_TYPES)})")[:4]


@dataclass(frozen=True, slots=True)
class Claim:
    distribution_id: UUID
    index: int
    account: str
    amount: int
    proof: list[str]
    status: str  # FAILED (the push failed) or PENDING (no push reached it yet)

    def calldata(self) -> str:
        args = [onchain_id(self.distribution_id), self.index, self.account, self.amount,
                [bytes.fromhex(p[2:]) for p in self.proof]]
        return "0x" + (CLAIM_SELECTOR + encode(CLAIM_TYPES, args)).hex()


@dataclass(frozen=True, slots=True)
class ClaimTarget:
    """Where a claim is sent: the vault on its chain, before the deadline."""

    vault: str
    chain_id: int
    claim_deadline: datetime
    merkle_root: str


def target(ledger: PayoutLedger, distribution: Distribution, now: datetime) -> ClaimTarget:
    """The vault a committed distribution's holders claim from; refused once claims cannot
    succeed (never committed, cancelled, or past the deadline)."""
    if distribution.status is Status.CANCELLED or distribution.claim_deadline is None \
            or distribution.merkle_root is None:
        raise IllegalTransition(f"distribution {distribution.id} is {distribution.status}:"
                                " its root is not committed on-chain, nothing can be claimed")
    if now > distribution.claim_deadline:
        raise IllegalTransition(f"the claim window of distribution {distribution.id} closed"
                                f" at {distribution.claim_deadline.isoformat()}")
    asset = ledger.get_asset(distribution.asset_id)
    if not asset.vault_address:
        raise IllegalTransition(f"asset {asset.symbol} pays through no vault")
    return ClaimTarget(asset.vault_address, asset.chain_id, distribution.claim_deadline,
                       distribution.merkle_root)


def _committed(distribution: Distribution, batch: PayoutBatch, index: int) -> int:
    """The leaf's committed amount: a cash-out's is the units the claim redeems (the vault
    pays their principal), any other's the net paid."""
    leaf = batch.leaves[index]
    return leaf_amount(distribution.terms.kind, leaf.balance, leaf.net)


def _tree(distribution: Distribution, batch: PayoutBatch) -> PartialTree:
    assert distribution.totals is not None  # committed: snapshotted first
    assert distribution.merkle_root is not None
    return PartialTree(
        distribution.totals.eligible, batch.first_leaf,
        [leaf_hash(i, batch.leaves[i].account, _committed(distribution, batch, i))
         for i in batch.leaf_range],
        [bytes.fromhex(p[2:]) for p in batch.range_proof],
        bytes.fromhex(distribution.merkle_root[2:]))


def _unpaid(distribution: Distribution, batch: PayoutBatch) -> Iterator[Claim]:
    todo = [i for i in batch.leaf_range if batch.outcomes.get(i) not in PAID_OUTCOMES]
    if not todo:
        return
    tree = _tree(distribution, batch)
    for i in todo:
        leaf = batch.leaves[i]
        status = "FAILED" if batch.outcomes.get(i) is LeafOutcome.FAILED else "PENDING"
        yield Claim(distribution.id, i, leaf.account, _committed(distribution, batch, i),
                    ["0x" + p.hex() for p in tree.proof(i)], status)


def claim_of(ledger: PayoutLedger, distribution_id: UUID, account: str, leaf_index: int,
             now: datetime) -> tuple[Claim, ClaimTarget]:
    """The claim of `account` at `leaf_index` (found by the caller, e.g. in a read model),
    checked against the ledger: NotFound unless that leaf is the account's and unpaid."""
    distribution = ledger.get_distribution(distribution_id)
    where = target(ledger, distribution, now)
    wanted = accounts.canonical(account).lower()
    batch = ledger.get_batch(distribution_id, distribution.batch_of_leaf(leaf_index))
    leaf = batch.leaves.get(leaf_index)
    if leaf is None or leaf.account.lower() != wanted \
            or batch.outcomes.get(leaf_index) in PAID_OUTCOMES:
        raise NotFound(f"{account} has no unpaid entitlement in distribution {distribution_id}")
    found = next(c for c in _unpaid(distribution, batch) if c.index == leaf_index)
    return found, where


def unpaid_claims(ledger: PayoutLedger, distribution_id: UUID,
                  now: datetime) -> tuple[ClaimTarget, Iterator[Claim]]:
    """Every unpaid leaf's claim, batch by batch (one batch in memory at a time)."""
    distribution = ledger.get_distribution(distribution_id)
    where = target(ledger, distribution, now)

    def claims() -> Iterator[Claim]:
        for batch in ledger.batches(distribution_id):
            yield from _unpaid(distribution, batch)

    return where, claims()


def export_document(ledger: PayoutLedger, distribution_id: UUID,
                    now: datetime) -> dict[str, Any]:
    """The merkle-distributor convention (Uniswap's `merkle-distributor` JSON): amounts as
    hex strings, claims keyed by account; `tokenTotal` is what the listed claims add up to.
    The vault, chain, deadline and distribution are added so one file is enough to claim."""
    where, claims = unpaid_claims(ledger, distribution_id, now)
    listed: dict[str, dict[str, Any]] = {}
    total = 0
    for c in claims:
        listed[c.account] = {"index": c.index, "amount": hex(c.amount), "proof": c.proof}
        total += c.amount
    return {"merkleRoot": where.merkle_root, "tokenTotal": hex(total), "claims": listed,
            "distributionId": "0x" + onchain_id(distribution_id).hex(),
            "vault": where.vault, "chainId": where.chain_id,
            "claimDeadline": where.claim_deadline.isoformat()}
