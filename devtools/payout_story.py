"""A distribution's whole story on a real ledger, for the API benchmark and the tests:
imported, created, approved, snapshotted, committed, executed batch by batch with a few
failed payments, and the failed ones retried and paid.

Submissions go through the ledger's `record_submission`; outcomes go through
`apply_chain_facts` as the final chain facts the ingestor decodes from the vault's logs
(`domain.chain_facts`), with the vault's cursor: nothing here bypasses the write path.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from uuid import UUID

from app.ledger import PayoutLedger
from domain.batch import PayoutBatch
from domain.chain_facts import BatchSettledOnChain, ChainFact, LeafFailed, LeavesPaid
from domain.entitlements import Snapshot
from domain.planning import GasModel
from domain.terms import DistributionKind, DistributionTerms, Rule, RuleKind, Withholding

RECORD = datetime(2026, 6, 30, tzinfo=UTC)
CHAIN_ID = 31337
VAULT = "0x" + "ee" * 20


def sample_terms(key: int = 1) -> DistributionTerms:
    return DistributionTerms(kind=DistributionKind.DIVIDEND, rule=Rule(RuleKind.PRO_RATA, 10**12),
                             record_date=RECORD, withholding=Withholding(1_000),
                             minimum_payout=2, concept=f"story {key}")


def import_asset(ledger: PayoutLedger, token: str = "0x" + "a1" * 20) -> UUID:
    return ledger.import_asset(chain_id=CHAIN_ID, token_address=token, name="Acme Equity",
                               symbol="ACME", decimals=18, kind="EQUITY",
                               payment_token="0x" + "b2" * 20, payment_decimals=6,
                               vault_address=None, actor="importer")


def holders(n: int, seed: int = 1) -> list[tuple[str, int]]:
    rng = random.Random(seed)
    rows = [("0x" + rng.randbytes(20).hex(), rng.randint(1, 10**21)) for _ in range(n)]
    rows[0] = (rows[0][0], 0)  # one zero balance: a SKIPPED holder
    return rows


def snapshotted(ledger: PayoutLedger, asset_id: UUID, n: int, *, key: str = "story",
                gas_model: GasModel | None = None) -> UUID:
    did = ledger.create_distribution(asset_id=asset_id, idempotency_key=key,
                                     terms=sample_terms(), actor="maker")
    ledger.approve_distribution(did, "checker")
    snapshot = Snapshot.from_chunks([holders(n)], decimals=ledger.get_asset(asset_id).decimals)
    ledger.snapshot_distribution(did, snapshot=snapshot, snapshot_ref=f"snap-{key}",
                                 gas_model=gas_model or GasModel())
    return did


class Chain:
    """Stands in for the ingestor: each transaction's logs arrive as one final block range,
    recorded through `PayoutLedger.apply_chain_facts` with the vault's cursor."""

    def __init__(self, ledger: PayoutLedger, chain_id: int = CHAIN_ID, vault: str = VAULT) -> None:
        self.ledger, self.chain_id, self.vault = ledger, chain_id, vault
        cursor = ledger.get_cursor(chain_id, vault)  # a second story continues the chain
        self.block = cursor.last_block if cursor else 0

    def mine(self, facts: list[ChainFact]) -> int:
        previous = self.ledger.get_cursor(self.chain_id, self.vault)
        self.block += 1
        return self.ledger.apply_chain_facts(
            chain_id=self.chain_id, contract=self.vault, from_block=self.block,
            to_block=self.block, block_hash=f"0x{self.block:064x}",
            chain_hash_at_cursor=previous.last_hash if previous else None, facts=facts)


def _outcome(batch: PayoutBatch, did: UUID, tx: str, leaves: list[int],
             failing: set[int]) -> list[ChainFact]:
    """The vault's logs for one transaction paying `leaves`, of which `failing` fail."""
    paid = [i for i in leaves if i not in failing]
    facts: list[ChainFact] = [LeavesPaid(did, tuple(paid), tx)]
    facts += [LeafFailed(did, i, batch.leaves[i].account, "RECIPIENT_BLOCKED", tx)
              for i in leaves if i in failing]
    facts.append(BatchSettledOnChain(
        did, first_index=leaves[0], count=len(leaves), paid=len(paid),
        failed=len(leaves) - len(paid), skipped=0,
        amount_paid=sum(batch.leaves[i].net for i in paid), tx_hash=tx,
        gas_used=60_000 + 42_000 * len(leaves)))
    return facts


def commit_and_start(ledger: PayoutLedger, did: UUID) -> None:
    ledger.commit_distribution(did, tx_hash="0x" + "cc" * 32,
                               claim_deadline=RECORD + timedelta(days=90), actor="approver")
    ledger.start_execution(did, "operator")


def pay(ledger: PayoutLedger, did: UUID, *, fail_every: int = 97, retry: bool = True) -> int:
    """Pay every batch (every `fail_every`-th leaf fails), then retry the failures.

    Each submission goes through `record_submission`, each outcome through
    `apply_chain_facts`: the write path workers and the ingestor use.
    """
    chain = Chain(ledger)
    failed: dict[int, list[int]] = {}
    for batch in ledger.batches(did):
        leaves = list(batch.leaf_range)
        if not leaves:
            continue
        tx = f"0x{batch.number:064x}"
        ledger.record_submission(batch.id, tx_hash=tx, nonce=batch.number,
                                 leaf_indices=leaves, signed_at=datetime.now(UTC))
        failing = {i for i in leaves if i % fail_every == fail_every - 1}
        chain.mine(_outcome(batch, did, tx, leaves, failing))
        if failing:
            failed[batch.number] = sorted(failing)
    if retry:
        for number, leaves in failed.items():
            batch = ledger.get_batch(did, number)
            tx = f"0x{number + 10**6:064x}"
            ledger.record_submission(batch.id, tx_hash=tx, nonce=10**6 + number,
                                     leaf_indices=leaves, signed_at=datetime.now(UTC))
            chain.mine(_outcome(batch, did, tx, leaves, set()))
    return sum(len(v) for v in failed.values())


def execute(ledger: PayoutLedger, did: UUID, *, fail_every: int = 97, retry: bool = True) -> int:
    """Commit, start, pay; returns how many payments failed at first."""
    commit_and_start(ledger, did)
    return pay(ledger, did, fail_every=fail_every, retry=retry)
