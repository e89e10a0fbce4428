"""Per distribution, one row per holder: amounts, status, tx hash, failure reason, attempts.

The hot read model (100k rows per distribution). Within a batch of events the changes are
coalesced in memory: rows created in this batch get their outcomes before they are written
(one COPY), and outcomes of older rows go as one `UPDATE … FROM unnest(…)`.
CLAIMED comes from `LeafClaimed` (a holder's own claim after a failed push).
PENDING_CLAIM is an HTS airdrop to a holder not associated with the token, waiting for their
claim (HIP-904): the tx hash is the airdrop's TransactionId; the claim makes it PAID, a
cancellation after the claim deadline FAILED (the cancellation's TransactionId and reason).

An operator's retry (`PayoutBatch.RetryRequested`) puts a FAILED holder back to PENDING, like
any holder no transaction has reached, but keeps `failure_reason` and `tx_hash` of the failed
attempt: "pending, last failed with X in tx Y" is what the operator retried it for, and
`attempts` already counts that try. The next outcome (paid, claimed, failed) replaces both.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Any
from uuid import UUID

from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.persistence import Mapper, Tracking
from psycopg import Cursor, sql
from psycopg.rows import DictRow

from domain.batch import PayoutBatch
from projections import fastpath
from projections.base import TableProjection, topics
from projections.fastpath import FastDecoder
from projections.store import ViewStore


class HolderStatus(StrEnum):
    PENDING = "PENDING"
    PAID = "PAID"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"
    CLAIMED = "CLAIMED"
    PENDING_CLAIM = "PENDING_CLAIM"


PENDING, PAID, FAILED, SKIPPED, CLAIMED = (
    HolderStatus.PENDING.value, HolderStatus.PAID.value, HolderStatus.FAILED.value,
    HolderStatus.SKIPPED.value, HolderStatus.CLAIMED.value)
CLAIMED_TOPIC = topics(PayoutBatch.LeafClaimed)[0]
COLUMNS = ("distribution_id", "batch_id", "batch_number", "position", "account", "balance",
           "gross", "withheld", "net", "leaf_index", "status", "skip_reason", "tx_hash",
           "failure_reason", "attempts")
# Indexes of the mutable columns in a row list.
STATUS, TX, REASON, ATTEMPTS = 10, 12, 13, 14


class Outcome:
    """Changes to one existing leaf: a new status (None: unchanged) and attempts to add."""

    __slots__ = ("attempts", "reason", "status", "tx_hash")

    def __init__(self) -> None:
        self.status: str | None = None
        self.tx_hash: str | None = None
        self.reason: str | None = None
        self.attempts = 0


class DistributionHolders(TableProjection):
    name = "distribution_holders"
    tables = ("distribution_holders", "distribution_holders_batches")
    version = 3  # 2: retried leaves go back to PENDING; 3: HTS pending airdrops
    topics = topics(PayoutBatch.Planned, PayoutBatch.HoldersEntitled,
                    PayoutBatch.HolderEntitled, PayoutBatch.Submitted, PayoutBatch.LeavesPaid,
                    PayoutBatch.LeafPaid, PayoutBatch.LeafFailed, PayoutBatch.LeafClaimed,
                    PayoutBatch.HtsAirdropPending, PayoutBatch.HtsAirdropClaimed,
                    PayoutBatch.HtsAirdropCancelled,
                    PayoutBatch.RetryRequested)

    def __init__(self, view: ViewStore) -> None:
        super().__init__(view)
        self.fast: FastDecoder | None = None
        self.batches: dict[UUID, tuple[UUID, int]] = {}  # batch → (distribution, number)
        self.reset()

    def reset(self) -> None:
        self.new_batches: list[tuple[UUID, UUID, int]] = []
        self.rows: list[list[Any]] = []
        self.leaves: dict[tuple[UUID, int], list[Any]] = {}
        self.outcomes: dict[tuple[UUID, int], Outcome] = {}

    @staticmethod
    def ddl(store: ViewStore) -> list[sql.Composed]:
        t, b = store.table("distribution_holders"), store.table("distribution_holders_batches")
        return [
            sql.SQL("CREATE TABLE IF NOT EXISTS {} (batch_id uuid PRIMARY KEY,"
                    " distribution_id uuid NOT NULL, number int NOT NULL)").format(b),
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (distribution_id uuid NOT NULL,"
                " batch_id uuid NOT NULL, batch_number int NOT NULL, position int NOT NULL,"
                " account text NOT NULL, balance numeric(78) NOT NULL,"
                " gross numeric(78) NOT NULL, withheld numeric(78) NOT NULL,"
                " net numeric(78) NOT NULL, leaf_index int, status text NOT NULL,"
                " skip_reason text, tx_hash text, failure_reason text,"
                " attempts int NOT NULL DEFAULT 0, PRIMARY KEY (distribution_id, position))"
            ).format(t),
            sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} (batch_id, leaf_index)").format(
                sql.Identifier(f"{store.table_name('distribution_holders')}_leaf"), t),
            sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} (account)").format(
                sql.Identifier(f"{store.table_name('distribution_holders')}_account"), t),
        ]

    def use_fast_path(self, mapper: Mapper[Any]) -> None:
        self.fast = FastDecoder(mapper, {
            topics(PayoutBatch.HoldersEntitled)[0]: fastpath.EntitledRows,
            topics(PayoutBatch.HolderEntitled)[0]: fastpath.Entitled,
            topics(PayoutBatch.Submitted)[0]: fastpath.Submitted,
            topics(PayoutBatch.LeavesPaid)[0]: fastpath.PaidLeaves,
            topics(PayoutBatch.LeafPaid)[0]: fastpath.Paid,
            topics(PayoutBatch.LeafFailed)[0]: fastpath.Failed,
            CLAIMED_TOPIC: fastpath.Paid,
        })

    def process_raw(self, topic: str, originator_id: Any, state: bytes,
                    tracking: Tracking) -> bool:
        raw = self.fast.decode(topic, state) if self.fast else None
        if raw is None:
            return False
        if isinstance(raw, fastpath.EntitledRows):
            self._entitle_rows(originator_id, raw.holders)
        elif isinstance(raw, fastpath.Entitled):
            self._entitle(originator_id, raw)
        elif isinstance(raw, fastpath.PaidLeaves):
            self._paid_leaves(originator_id, raw.leaf_indices, raw.tx_hash)
        elif isinstance(raw, fastpath.Submitted):
            for leaf in raw.leaf_indices:
                self._change(originator_id, leaf, None, None, None, 1)
        elif isinstance(raw, fastpath.Paid):
            status = CLAIMED if topic == CLAIMED_TOPIC else PAID
            self._change(originator_id, raw.leaf_index, status, raw.tx_hash, None, 0)
        else:
            self._change(originator_id, raw.leaf_index, FAILED, raw.tx_hash, raw.reason, 0)
        return True

    @singledispatchmethod
    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        """Events of other topics never reach this projection."""

    @process_event.register
    def _planned(self, event: PayoutBatch.Planned, tracking: Tracking) -> None:
        self.batches[event.originator_id] = (event.distribution_id, event.number)
        self.new_batches.append((event.originator_id, event.distribution_id, event.number))

    @process_event.register
    def _entitled_rows(self, event: PayoutBatch.HoldersEntitled, tracking: Tracking) -> None:
        self._entitle_rows(event.originator_id, event.holders)

    def _entitle_rows(self, batch_id: UUID, holders: Sequence[Sequence[Any]]) -> None:
        rows, leaves = self.rows, self.leaves
        for position, account, balance, gross, withheld, net, leaf, skip in holders:
            row: list[Any] = [None, batch_id, None, position, account, balance, gross,
                              withheld, net, leaf, SKIPPED if skip else PENDING, skip, None,
                              None, 0]
            rows.append(row)
            if leaf is not None:
                leaves[(batch_id, leaf)] = row

    @process_event.register
    def _entitled(self, event: PayoutBatch.HolderEntitled, tracking: Tracking) -> None:
        self._entitle(event.originator_id, event)

    def _entitle(self, batch_id: UUID, e: PayoutBatch.HolderEntitled | fastpath.Entitled
                 ) -> None:
        status = SKIPPED if e.skip_reason else PENDING
        row: list[Any] = [None, batch_id, None, e.position, e.account, e.balance, e.gross,
                          e.withheld, e.net, e.leaf_index, status, e.skip_reason, None, None, 0]
        self.rows.append(row)
        if e.leaf_index is not None:
            self.leaves[(batch_id, e.leaf_index)] = row

    def _change(self, batch_id: UUID, leaf: int, status: str | None, tx_hash: str | None,
                reason: str | None, attempts: int) -> None:
        row = self.leaves.get((batch_id, leaf))
        if row is not None:  # created in this batch of events: change it before writing
            if status is not None:
                row[STATUS], row[TX], row[REASON] = status, tx_hash, reason
            row[ATTEMPTS] += attempts
            return
        outcome = self.outcomes.setdefault((batch_id, leaf), Outcome())
        if status is not None:
            outcome.status, outcome.tx_hash, outcome.reason = status, tx_hash, reason
        outcome.attempts += attempts

    def _retry(self, batch_id: UUID, leaf: int) -> None:
        """PENDING again; tx hash and failure reason stay those of the failed attempt."""
        row = self.leaves.get((batch_id, leaf))
        if row is not None:
            row[STATUS] = PENDING
        else:  # NULLs here (no failure in this batch of events) keep the stored ones
            self.outcomes.setdefault((batch_id, leaf), Outcome()).status = PENDING

    @process_event.register
    def _submitted(self, event: PayoutBatch.Submitted, tracking: Tracking) -> None:
        for leaf in event.leaf_indices:
            self._change(event.originator_id, leaf, None, None, None, 1)

    @process_event.register
    def _leaves_paid(self, event: PayoutBatch.LeavesPaid, tracking: Tracking) -> None:
        self._paid_leaves(event.originator_id, event.leaf_indices, event.tx_hash)

    def _paid_leaves(self, batch_id: UUID, leaves: list[int], tx_hash: str) -> None:
        for leaf in leaves:
            self._change(batch_id, leaf, PAID, tx_hash, None, 0)

    @process_event.register
    def _paid(self, event: PayoutBatch.LeafPaid, tracking: Tracking) -> None:
        self._change(event.originator_id, event.leaf_index, PAID,
                     event.tx_hash, None, 0)

    @process_event.register
    def _claimed(self, event: PayoutBatch.LeafClaimed, tracking: Tracking) -> None:
        self._change(event.originator_id, event.leaf_index, CLAIMED, event.tx_hash, None, 0)

    @process_event.register
    def _failed(self, event: PayoutBatch.LeafFailed, tracking: Tracking) -> None:
        self._change(event.originator_id, event.leaf_index, FAILED,
                     event.tx_hash, event.reason, 0)

    @process_event.register
    def _airdrop_pending(self, event: PayoutBatch.HtsAirdropPending,
                         tracking: Tracking) -> None:
        for leaf in event.leaf_indices:
            self._change(event.originator_id, leaf, HolderStatus.PENDING_CLAIM.value,
                         event.transaction_id, None, 0)

    @process_event.register
    def _airdrop_claimed(self, event: PayoutBatch.HtsAirdropClaimed,
                         tracking: Tracking) -> None:
        for leaf, airdrop in zip(event.leaf_indices, event.transaction_ids, strict=True):
            self._change(event.originator_id, leaf, PAID, airdrop, None, 0)

    @process_event.register
    def _airdrop_cancelled(self, event: PayoutBatch.HtsAirdropCancelled,
                           tracking: Tracking) -> None:
        for leaf in event.leaf_indices:
            self._change(event.originator_id, leaf, FAILED, event.transaction_id,
                         "AIRDROP_CANCELLED_AFTER_CLAIM_DEADLINE", 0)

    @process_event.register
    def _retried(self, event: PayoutBatch.RetryRequested, tracking: Tracking) -> None:
        for leaf in event.leaf_indices:
            self._retry(event.originator_id, leaf)

    def write(self, cur: Cursor[DictRow]) -> None:
        store = self.view
        if self.new_batches:
            cur.executemany(
                sql.SQL("INSERT INTO {} VALUES (%s, %s, %s) ON CONFLICT DO NOTHING").format(
                    store.table("distribution_holders_batches")), self.new_batches)
        if self.rows:
            self._resolve(cur, {row[1] for row in self.rows})
            with cur.copy(sql.SQL("COPY {} ({}) FROM STDIN").format(
                    store.table("distribution_holders"),
                    sql.SQL(", ").join(map(sql.Identifier, COLUMNS)))) as copy:
                for row in self.rows:
                    row[0], row[2] = self.batches[row[1]]
                    copy.write_row(row)
        if self.outcomes:
            keys = list(self.outcomes)
            values = list(self.outcomes.values())
            # No status: only attempts change. PENDING (a retry) keeps the stored tx hash and
            # reason unless a failure earlier in this batch of events brought newer ones.
            cur.execute(sql.SQL(
                "UPDATE {t} AS h SET status = coalesce(u.status, h.status),"
                " tx_hash = CASE WHEN u.status IS NULL THEN h.tx_hash"
                " WHEN u.status = {pending} THEN coalesce(u.tx_hash, h.tx_hash) ELSE u.tx_hash"
                " END, failure_reason = CASE WHEN u.status IS NULL THEN h.failure_reason"
                " WHEN u.status = {pending} THEN coalesce(u.reason, h.failure_reason)"
                " ELSE u.reason END, attempts = h.attempts + u.attempts"
                " FROM unnest(%s::uuid[], %s::int[], %s::text[], %s::text[], %s::text[],"
                " %s::int[]) AS u(batch_id, leaf_index, status, tx_hash, reason, attempts)"
                " WHERE h.batch_id = u.batch_id AND h.leaf_index = u.leaf_index"
            ).format(t=store.table("distribution_holders"), pending=sql.Literal(PENDING)), (
                [k[0] for k in keys], [k[1] for k in keys], [v.status for v in values],
                [v.tx_hash for v in values], [v.reason for v in values],
                [v.attempts for v in values]))
        self.reset()

    def _resolve(self, cur: Cursor[DictRow], batch_ids: set[UUID]) -> None:
        """Batches planned in an earlier transaction (or before a restart)."""
        missing = [b for b in batch_ids if b not in self.batches]
        if missing:
            cur.execute(sql.SQL("SELECT * FROM {} WHERE batch_id = ANY(%s)").format(
                self.view.table("distribution_holders_batches")), (missing,))
            for r in cur.fetchall():
                self.batches[r["batch_id"]] = (r["distribution_id"], r["number"])
