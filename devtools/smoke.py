"""The smoke run: record a distribution on the ledger's PostgreSQL, then reload and check it.

It stands in for the end-to-end demo until the chain side lands: it proves the install, the
embedded PostgreSQL, the event store and the entitlement math on a bare machine.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from app.ledger import PayoutLedger
from domain.entitlements import Snapshot, Totals
from domain.merkle import MerkleTree, leaf_hash
from domain.planning import GasModel
from domain.terms import DistributionKind, DistributionTerms, Rule, RuleKind, Withholding


@dataclass(frozen=True, slots=True)
class SmokeResult:
    distribution_id: UUID
    totals: Totals
    merkle_root: str
    batches: int
    reloaded_root: str
    holder_records: int
    conserved: bool


def sample_holders(count: int, seed: int) -> list[tuple[str, int]]:
    """Deterministic holders: random addresses, a few zero balances, 18-decimal balances."""
    rng = random.Random(seed)
    return [("0x" + rng.randbytes(20).hex(), 0 if i % 97 == 0 else rng.randint(1, 10**22))
            for i in range(count)]


def record(ledger: PayoutLedger, holders: int, run_key: str) -> UUID:
    asset_id = ledger.import_asset(
        chain_id=31337, token_address="0x" + "a1" * 20, name="Smoke Equity", symbol="SMK",
        decimals=18, kind="EQUITY", payment_token="0x" + "b2" * 20, payment_decimals=6,
        vault_address=None, actor="smoke-importer",
    )
    terms = DistributionTerms(
        kind=DistributionKind.DIVIDEND, rule=Rule(RuleKind.PRO_RATA, 250_000 * 10**6),
        record_date=datetime(2026, 11, 1, tzinfo=UTC), withholding=Withholding(1_000),
        concept="Smoke-run dividend",
    )
    distribution_id = ledger.create_distribution(
        asset_id=asset_id, idempotency_key=run_key, terms=terms, actor="maker"
    )
    ledger.approve_distribution(distribution_id, actor="checker")
    rows = sample_holders(holders, seed=7)
    snapshot = Snapshot.from_chunks((rows[i:i + 500] for i in range(0, len(rows), 500)), 18)
    ledger.snapshot_distribution(distribution_id, snapshot=snapshot, snapshot_ref="smoke",
                                 gas_model=GasModel())
    return distribution_id


def verify(ledger: PayoutLedger, distribution_id: UUID) -> SmokeResult:
    """Reload everything from the store and re-derive the root and totals from batch events."""
    distribution = ledger.get_distribution(distribution_id)
    if distribution.totals is None or distribution.merkle_root is None:
        raise RuntimeError("the distribution has no recorded entitlements")
    leaves: list[bytes] = []
    net = withheld = skipped_amount = records = 0
    for batch in ledger.batches(distribution_id):
        for h in batch.holders:
            records += 1
            if h.leaf_index is None:
                skipped_amount += h.skipped_amount
            else:
                leaves.append(leaf_hash(h.leaf_index, h.account, h.net))
                net += h.net
                withheld += h.withheld
    totals = distribution.totals
    root = "0x" + MerkleTree(leaves).root.hex()
    conserved = (net == totals.net and withheld == totals.withheld
                 and net + withheld + totals.dust + skipped_amount == totals.gross)
    return SmokeResult(distribution_id, totals, distribution.merkle_root,
                       distribution.batch_count, root, records, conserved)
