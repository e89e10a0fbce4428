"""Ledger stories with the retry and scheduling events, and a check that the read models say
what the aggregates say. Everything goes through the ledger: submissions by
`record_submission`, outcomes as final chain facts through `apply_chain_facts`."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import dict_row

from app.ledger import PayoutLedger
from devtools import payout_story as story
from domain.batch import PAID_OUTCOMES, BatchStatus, LeafOutcome
from domain.chain_facts import LeafClaimed
from domain.distribution import Status
from domain.planning import GasModel
from domain.terms import DistributionKind

SMALL = GasModel(per_leaf=1_000_000, budget=12_000_000)  # 11 leaves per batch
NOW = datetime(2026, 7, 1, tzinfo=UTC)
FINISHED = {Status.COMPLETED, Status.COMPLETED_WITH_FAILURES, Status.CANCELLED, Status.EXPIRED}
HOLDER_STATUS = {LeafOutcome.PAID: "PAID", LeafOutcome.FAILED: "FAILED",
                 LeafOutcome.CLAIMED: "CLAIMED", None: "PENDING"}

Step = Callable[[UUID, str], None]  # called after each step of a story


def no_check(did: UUID, step: str) -> None:
    pass


class Vault:
    """Submits leaves and mines their outcomes, continuing the vault cursor's blocks."""

    def __init__(self, ledger: PayoutLedger) -> None:
        self.ledger = ledger
        self.chain = story.Chain(ledger)  # continues from the vault cursor's last block

    def pay(self, did: UUID, leaves: Iterable[int], failing: Iterable[int] = ()) -> None:
        """One transaction per batch for `leaves`; those in `failing` fail."""
        distribution = self.ledger.get_distribution(did)
        by_batch: dict[int, list[int]] = defaultdict(list)
        for leaf in sorted(leaves):
            by_batch[distribution.batch_of_leaf(leaf)].append(leaf)
        for number, group in by_batch.items():
            batch = self.ledger.get_batch(did, number)
            tx = f"0x{self.chain.block + 1:032x}{number:032x}"
            self.ledger.record_submission(batch.id, tx_hash=tx, nonce=self.chain.block,
                                          leaf_indices=group, signed_at=NOW)
            self.chain.mine(story._outcome(batch, did, tx, group, set(failing)))

    def claim(self, did: UUID, leaf: int) -> None:
        distribution = self.ledger.get_distribution(did)
        entitlement = self.ledger.get_batch(did, distribution.batch_of_leaf(leaf)).leaves[leaf]
        self.chain.mine([LeafClaimed(did, leaf, entitlement.account, entitlement.net,
                                     f"0x{self.chain.block + 1:064x}")])


def leaves(ledger: PayoutLedger, did: UUID) -> range:
    totals = ledger.get_distribution(did).totals
    assert totals is not None
    return range(totals.eligible)


def retried_twice(ledger: PayoutLedger, asset: UUID, check: Step = no_check) -> UUID:
    """30 holders; 4 fail, are retried, 2 fail again; one of them is retried and paid, the
    other claims. Ends COMPLETED."""
    did = story.snapshotted(ledger, asset, 30, key="retried", gas_model=SMALL)
    story.commit_and_start(ledger, did)
    vault = Vault(ledger)
    eligible = leaves(ledger, did)
    failing = [i for i in eligible if i % 7 == 6]
    vault.pay(did, eligible, failing)
    check(did, "first run: some failed")
    ledger.retry_distribution(did, actor="operator", reason="holders unblocked")
    check(did, "every failure retried")
    vault.pay(did, failing, failing[:2])
    check(did, "two fail again")
    ledger.retry_distribution(did, actor="operator", reason="one more", leaf_indices=failing[:1])
    check(did, "one retried again")
    vault.pay(did, failing[:1])
    check(did, "paid at last")
    vault.claim(did, failing[1])
    check(did, "the last one claims")
    return did


def waited_and_blocked(ledger: PayoutLedger, asset: UUID, check: Step = no_check) -> UUID:
    """Waits for funds; one batch gives up after transient faults, another has its submission
    refused; an operator unblocks both and everything is paid."""
    did = story.snapshotted(ledger, asset, 23, key="waiting", gas_model=SMALL)
    ledger.commit_distribution(did, tx_hash="0x" + "dd" * 32,
                               claim_deadline=story.RECORD + timedelta(days=90), actor="approver")
    ledger.await_funds(did, needed=1_000, available=10)
    check(did, "waiting for funds")
    ledger.resume_with_funds(did, available=2_000, needed=1_000)
    check(did, "funds arrived")
    flaky, refused = ledger.get_batch(did, 0).id, ledger.get_batch(did, 1).id
    for seconds in (2, 4):
        ledger.record_attempt_failure(flaky, reason="RPC timeout",
                                      retry_at=NOW + timedelta(seconds=seconds))
        check(did, f"transient fault, retry in {seconds}s")
    ledger.record_attempt_failure(flaky, reason="RPC timeout", retry_at=None)
    check(did, "gave up")
    ledger.record_submission(refused, tx_hash="0x" + "0f" * 32, nonce=1, signed_at=NOW,
                             leaf_indices=ledger.get_batch_by_id(refused).undecided_leaves())
    ledger.reject_submission(refused, tx_hash="0x" + "0f" * 32, reason="EnforcedPause()")
    check(did, "submission refused")
    ledger.retry_distribution(did, actor="operator", reason="vault unpaused")
    check(did, "unblocked")
    vault = Vault(ledger)
    vault.pay(did, leaves(ledger, did))
    check(did, "paid")
    return did


def select(database_url: str, schema: str, query: str, *args: Any) -> list[dict[str, Any]]:
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        return conn.execute(query.replace("{v}", f'"{schema}_views"'), args).fetchall()


def assert_views_match_ledger(ledger: PayoutLedger, did: UUID, database_url: str,
                              schema: str, step: str = "") -> None:
    """The distribution, batch and holder rows say what the aggregates say."""
    d = ledger.get_distribution(did)
    batches = list(ledger.batches(did))
    (row,) = select(database_url, schema,
                   "SELECT * FROM {v}.distributions WHERE distribution_id = %s", did)
    assert (row["status"], row["paid_count"], row["failed_count"], row["amount_paid"]) \
        == (d.status.value, d.paid, d.failed, d.amount_paid), step
    assert row["batches_settled"] == sum(b.status is BatchStatus.SETTLED for b in batches), step
    # A cash-out's units redeemed: its paid or claimed leaves' units; NULL for other kinds.
    redeemed = sum(b.leaves[i].balance for b in batches for i, o in b.outcomes.items()
                   if o in PAID_OUTCOMES)
    assert row["units_redeemed"] == (redeemed if d.terms.kind is DistributionKind.CASH_OUT
                                     else None), step
    assert (row["finished_at"] is None) == (d.status not in FINISHED), step
    failed = select(database_url, schema, "SELECT f.batch_id, f.leaf_index FROM"
                   " {v}.distributions_failed f JOIN {v}.distributions_batches b"
                   " USING (batch_id) WHERE b.distribution_id = %s", did)
    assert {(r["batch_id"], r["leaf_index"]) for r in failed} \
        == {(b.id, i) for b in batches for i in b.failed_leaves()}, step
    rows = {r["batch_id"]: r for r in select(
        database_url, schema, "SELECT * FROM {v}.batches WHERE distribution_id = %s", did)}
    for b in batches:
        r = rows[b.id]
        assert (r["status"], r["attempts"], r["tx_hashes"], r["rejection"],
                r["transient_failures"], r["retry_at"], r["retries"]) \
            == (b.status.value, b.attempts, b.tx_hashes, b.rejection, b.transient_failures,
                b.retry_at, b.retries), (step, b.number)
    holders = {r["position"]: r for r in select(
        database_url, schema, "SELECT * FROM {v}.distribution_holders"
        " WHERE distribution_id = %s", did)}
    for b in batches:
        for h in b.holders:
            r = holders[h.position]
            if h.leaf_index is None:
                assert r["status"] == "SKIPPED", step
                continue
            sent = sum(h.leaf_index in leaves for leaves in b.submitted_leaves.values())
            assert (r["status"], r["failure_reason"], r["attempts"]) == (
                HOLDER_STATUS[b.outcomes.get(h.leaf_index)],
                b.failure_reasons.get(h.leaf_index), sent), (step, h.leaf_index)
