"""Distribution status: lifecycle, totals, dust, progress and timestamps, one row each.

Progress counts come from leaf outcomes, coalesced per batch of events: a leaf is paid (or
claimed) at most once, so paid counts add up; a failed leaf is counted while it is in the
`distributions_failed` side table, which a later payment, claim or retry of that leaf removes
it from (projections.counters).

`batches_settled` counts the batches whose status is SETTLED now (as the batches view shows
them): a batch with no leaves is settled when planned; a resubmission, a rejection, giving up,
or an operator's retry takes a settled batch out again until it settles anew.

`funds_needed` / `funds_available` keep the last funds check the ledger recorded: the shortfall
while WAITING_FOR_FUNDS, then the balance that let execution resume (`FundsArrived`).

`reclaimed` / `swept` add up what the vault's `Reclaimed` and `Swept` logs returned to the
treasury for the distribution (domain.treasury); the operations themselves, with who asked
and who approved, are the `treasury_ops` read model.

`pending_claim_count` / `pending_claim_amount`: HTS airdrops to holders not associated with
the token, not claimed yet (HIP-904): not paid (the tokens are still the payer's), not failed;
a claim moves them to paid, a cancellation after the claim deadline to failed.

`rail` is how it pays (VAULT, or HTS: native Hedera transfers); an HTS distribution's
`commitment_topic` / `commitment_sequence` say where its root was published (HCS) before paying.

`units_redeemed` is a CASH_OUT's bond units redeemed so far (its leaves paid or claimed; NULL
for other kinds): the payment events carry the principal, so the units come from the holders
the batch entitled (projections.redeemed_units).
"""

from __future__ import annotations

from typing import Any

from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.persistence import Mapper, Tracking
from psycopg import Cursor, sql
from psycopg.rows import DictRow

from domain.batch import PayoutBatch
from domain.distribution import Distribution
from projections import fastpath
from projections.base import Handler, Segments, TableProjection, executemany, topics
from projections.counters import LeafCounters
from projections.fastpath import FastDecoder
from projections.redeemed_units import RedeemedUnits
from projections.store import ViewStore

TABLE, BATCHES, FAILED = "distributions", "distributions_batches", "distributions_failed"
UNITS = "distributions_units"  # a cash-out's leaves: the units each redeems

PAID_TOPIC, CLAIMED_TOPIC, FAILED_TOPIC, LEAVES_PAID_TOPIC = topics(
    PayoutBatch.LeafPaid, PayoutBatch.LeafClaimed, PayoutBatch.LeafFailed,
    PayoutBatch.LeavesPaid)
ENTITLED_ROWS_TOPIC, ENTITLED_TOPIC = topics(PayoutBatch.HoldersEntitled,
                                             PayoutBatch.HolderEntitled)

COUNTS = ("holders", "eligible", "skipped")
TOTALS = ("holders", "eligible", "skipped", "eligible_balance", "gross", "net", "withheld",
          "dust", "skipped_amount")


def batch_count(e: Distribution.Snapshotted) -> int:
    """The event names its batches' first leaves (older events: a count)."""
    first_leaves = getattr(e, "batch_first_leaves", None)
    return len(first_leaves) if first_leaves is not None else int(getattr(e, "batch_count", 0))


class Distributions(TableProjection):
    name = "distributions"
    tables = (TABLE, BATCHES, FAILED, UNITS)
    # 2: funds arrival, retries, and batches leaving SETTLED; 3: units redeemed;
    # 4: HTS pending airdrops (pending, claimed, cancelled)
    version = 4
    topics = topics(Distribution.Created, Distribution.Approved, Distribution.Snapshotted,
                    Distribution.Committed, Distribution.ExecutionStarted,
                    Distribution.FundsAwaited, Distribution.FundsArrived,
                    Distribution.RetryRequested, Distribution.Completed, Distribution.Cancelled,
                    Distribution.Expired, Distribution.Reclaimed, Distribution.Swept,
                    Distribution.RailChosen, Distribution.CommitmentPublished,
                    PayoutBatch.Planned, PayoutBatch.Submitted,
                    PayoutBatch.SubmissionRejected, PayoutBatch.AttemptFailed,
                    PayoutBatch.RetryRequested, PayoutBatch.Settled, PayoutBatch.LeavesPaid,
                    PayoutBatch.LeafPaid, PayoutBatch.LeafClaimed, PayoutBatch.LeafFailed,
                    PayoutBatch.HoldersEntitled, PayoutBatch.HolderEntitled,
                    PayoutBatch.HtsAirdropPending, PayoutBatch.HtsAirdropClaimed,
                    PayoutBatch.HtsAirdropCancelled)

    def __init__(self, view: ViewStore) -> None:
        super().__init__(view)
        self.segments = Segments()
        self._handlers: dict[str, Handler] = {}
        self.counters = LeafCounters(view.table(TABLE), view.table(BATCHES), view.table(FAILED))
        self.units = RedeemedUnits(view.table(TABLE), view.table(BATCHES), view.table(UNITS))
        self.fast: FastDecoder | None = None

    def reset(self) -> None:
        self.segments.clear()
        self.counters.clear()
        self.units.clear()

    def use_fast_path(self, mapper: Mapper[Any]) -> None:
        self.fast = FastDecoder(mapper, {PAID_TOPIC: fastpath.Paid, CLAIMED_TOPIC: fastpath.Paid,
                                         FAILED_TOPIC: fastpath.Failed,
                                         LEAVES_PAID_TOPIC: fastpath.PaidLeaves,
                                         ENTITLED_ROWS_TOPIC: fastpath.EntitledRows,
                                         ENTITLED_TOPIC: fastpath.Entitled})

    def process_raw(self, topic: str, originator_id: Any, state: bytes,
                    tracking: Tracking) -> bool:
        if topic in (ENTITLED_ROWS_TOPIC, ENTITLED_TOPIC):
            # Kept undecoded until `write` knows whether the batch is a cash-out. Sound only
            # where no upcaster could apply: the decoder is usable and the class at version 1.
            if self.fast is None or topic not in self.fast.decoders \
                    or self.fast.versions[topic] != 1:
                return False
            self.units.entitled_raw(originator_id, topic, state)
            return True
        raw = self.fast.decode(topic, state) if self.fast else None
        if isinstance(raw, fastpath.PaidLeaves):
            self.counters.paid_leaves(originator_id, raw.leaf_indices, raw.amount)
            self.units.paid(originator_id, raw.leaf_indices)
        elif isinstance(raw, fastpath.Paid):
            self.counters.paid(originator_id, raw.leaf_index, raw.amount)
            self.units.paid(originator_id, [raw.leaf_index])
        elif isinstance(raw, fastpath.Failed):
            self.counters.failed(originator_id, raw.leaf_index)
        return raw is not None

    @staticmethod
    def ddl(store: ViewStore) -> list[sql.Composed]:
        amounts = ", ".join(f"{c} {'int' if c in COUNTS else 'numeric(78)'}" for c in TOTALS)
        return [
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (distribution_id uuid PRIMARY KEY,"
                " asset_id uuid NOT NULL, idempotency_key text NOT NULL, kind text NOT NULL,"
                " rule_kind text NOT NULL, rule_value numeric(78) NOT NULL,"
                " record_date timestamptz NOT NULL, execution_kind text NOT NULL,"
                " concept text NOT NULL, status text NOT NULL, created_by text NOT NULL,"
                " approved_by text, cancelled_by text, cancel_reason text, "
                + amounts + ", merkle_root text, batch_count int NOT NULL DEFAULT 0,"
                " batches_settled int NOT NULL DEFAULT 0, paid_count int NOT NULL DEFAULT 0,"
                " failed_count int NOT NULL DEFAULT 0,"
                " amount_paid numeric(78) NOT NULL DEFAULT 0, commit_tx text,"
                " claim_deadline timestamptz, funds_needed numeric(78),"
                " funds_available numeric(78), created_at timestamptz NOT NULL,"
                " approved_at timestamptz, snapshotted_at timestamptz,"
                " committed_at timestamptz, started_at timestamptz, finished_at timestamptz,"
                " updated_at timestamptz NOT NULL, position bigint NOT NULL)"
            ).format(store.table(TABLE)),
            sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} (created_at, distribution_id)").format(
                sql.Identifier(f"{store.table_name(TABLE)}_created"), store.table(TABLE)),
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (batch_id uuid PRIMARY KEY,"
                " distribution_id uuid NOT NULL, settled boolean NOT NULL DEFAULT false)"
            ).format(store.table(BATCHES)),
            sql.SQL("CREATE TABLE IF NOT EXISTS {} (batch_id uuid, leaf_index int,"
                    " PRIMARY KEY (batch_id, leaf_index))").format(store.table(FAILED)),
            sql.SQL("CREATE TABLE IF NOT EXISTS {} (batch_id uuid, leaf_index int,"
                    " units numeric(78) NOT NULL, PRIMARY KEY (batch_id, leaf_index))"
                    ).format(store.table(UNITS)),
        ]

    def _update(self, key: str, assignments: str) -> Handler:
        """An UPDATE of one distribution's row, cached per event kind."""
        if key not in self._handlers:
            self._handlers[key] = executemany(sql.SQL(
                "UPDATE {} SET " + assignments + ", updated_at = %(at)s, position = %(pos)s"  # noqa: S608
                " WHERE distribution_id = %(id)s").format(self.view.table(TABLE)))
        return self._handlers[key]

    def _set(self, key: str, event: Any, tracking: Tracking, assignments: str,
             **values: Any) -> None:
        values.update(id=event.originator_id, at=event.timestamp, pos=tracking.notification_id)
        self.segments.add(self._update(key, assignments), values)

    @singledispatchmethod
    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        """Events of other topics never reach this projection."""

    @process_event.register
    def _created(self, e: Distribution.Created, tracking: Tracking) -> None:
        if "created" not in self._handlers:
            self._handlers["created"] = executemany(sql.SQL(
                "INSERT INTO {} (distribution_id, asset_id, idempotency_key, kind, rule_kind,"
                " rule_value, record_date, execution_kind, concept, status, created_by,"
                " created_at, updated_at, position, units_redeemed) VALUES (%(id)s, %(asset)s,"
                " %(key)s, %(kind)s, %(rule_kind)s, %(rule_value)s, %(record_date)s,"
                " %(execution)s, %(concept)s, 'CREATED', %(actor)s, %(at)s, %(at)s, %(pos)s,"
                " CASE WHEN %(kind)s = 'CASH_OUT' THEN 0 END)"
                " ON CONFLICT DO NOTHING").format(self.view.table(TABLE)))
        t = e.terms
        self.segments.add(self._handlers["created"], {
            "id": e.originator_id, "asset": e.asset_id, "key": e.idempotency_key,
            "kind": t.kind.value, "rule_kind": t.rule.kind.value, "rule_value": t.rule.value,
            "record_date": t.record_date, "execution": t.execution.kind.value,
            "concept": t.concept, "actor": e.actor, "at": e.timestamp,
            "pos": tracking.notification_id})

    @process_event.register
    def _approved(self, e: Distribution.Approved, tracking: Tracking) -> None:
        self._set("approved", e, tracking,
                  "status = 'APPROVED', approved_by = %(actor)s, approved_at = %(at)s",
                  actor=e.actor)

    @process_event.register
    def _snapshotted(self, e: Distribution.Snapshotted, tracking: Tracking) -> None:
        totals = ", ".join(f"{c} = %({c})s" for c in TOTALS)
        self._set("snapshotted", e, tracking,
                  "status = 'SNAPSHOTTED', snapshotted_at = %(at)s, merkle_root = %(root)s,"
                  " batch_count = %(batches)s, " + totals,
                  root=e.merkle_root, batches=batch_count(e),
                  **{c: getattr(e, c) for c in TOTALS})

    @process_event.register
    def _committed(self, e: Distribution.Committed, tracking: Tracking) -> None:
        self._set("committed", e, tracking,
                  "status = 'COMMITTED', committed_at = %(at)s, commit_tx = %(tx)s,"
                  " claim_deadline = %(deadline)s", tx=e.tx_hash, deadline=e.claim_deadline)

    @process_event.register
    def _started(self, e: Distribution.ExecutionStarted, tracking: Tracking) -> None:
        self._set("started", e, tracking,
                  "status = 'EXECUTING', started_at = coalesce(started_at, %(at)s)")

    @process_event.register
    def _awaiting(self, e: Distribution.FundsAwaited, tracking: Tracking) -> None:
        self._set("awaiting", e, tracking,
                  "status = 'WAITING_FOR_FUNDS', funds_needed = %(needed)s,"
                  " funds_available = %(available)s", needed=e.needed, available=e.available)

    @process_event.register
    def _funds_arrived(self, e: Distribution.FundsArrived, tracking: Tracking) -> None:
        # A distribution that waited from COMMITTED never had ExecutionStarted: it starts now.
        self._set("funds_arrived", e, tracking,
                  "status = 'EXECUTING', started_at = coalesce(started_at, %(at)s),"
                  " funds_needed = %(needed)s, funds_available = %(available)s",
                  needed=e.needed, available=e.available)

    @process_event.register
    def _retry_requested(self, e: Distribution.RetryRequested, tracking: Tracking) -> None:
        # Counts move with the batches' own RetryRequested events (the leaves they name).
        self._set("retry_requested", e, tracking, "status = 'EXECUTING', finished_at = NULL")

    @process_event.register
    def _completed(self, e: Distribution.Completed, tracking: Tracking) -> None:
        self._set("completed", e, tracking, "status = %(status)s, finished_at = %(at)s",
                  status="COMPLETED_WITH_FAILURES" if e.failed else "COMPLETED")

    @process_event.register
    def _cancelled(self, e: Distribution.Cancelled, tracking: Tracking) -> None:
        self._set("cancelled", e, tracking,
                  "status = 'CANCELLED', finished_at = %(at)s, cancelled_by = %(actor)s,"
                  " cancel_reason = %(reason)s", actor=e.actor, reason=e.reason)

    @process_event.register
    def _expired(self, e: Distribution.Expired, tracking: Tracking) -> None:
        self._set("expired", e, tracking, "status = 'EXPIRED', finished_at = %(at)s")

    @staticmethod
    def added_columns(store: ViewStore) -> list[sql.Composed]:
        return [sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS reclaimed numeric(78) NOT NULL"
                        " DEFAULT 0, ADD COLUMN IF NOT EXISTS swept numeric(78) NOT NULL"
                        " DEFAULT 0, ADD COLUMN IF NOT EXISTS units_redeemed numeric(78),"
                        " ADD COLUMN IF NOT EXISTS pending_claim_count int NOT NULL DEFAULT 0,"
                        " ADD COLUMN IF NOT EXISTS pending_claim_amount numeric(78) NOT NULL"
                        " DEFAULT 0,"
                        " ADD COLUMN IF NOT EXISTS rail text NOT NULL DEFAULT 'VAULT',"
                        " ADD COLUMN IF NOT EXISTS commitment_topic text,"
                        " ADD COLUMN IF NOT EXISTS commitment_sequence bigint"
                        ).format(store.table(TABLE))]

    @process_event.register
    def _rail_chosen(self, e: Distribution.RailChosen, tracking: Tracking) -> None:
        self._set("rail", e, tracking, "rail = %(rail)s", rail=e.rail)

    @process_event.register
    def _commitment_published(self, e: Distribution.CommitmentPublished,
                              tracking: Tracking) -> None:
        self._set("commitment", e, tracking,
                  "commitment_topic = %(topic)s, commitment_sequence = %(sequence)s",
                  topic=e.topic_id, sequence=e.sequence_number)

    @process_event.register
    def _reclaimed(self, e: Distribution.Reclaimed, tracking: Tracking) -> None:
        self._set("reclaimed", e, tracking, "reclaimed = reclaimed + %(amount)s",
                  amount=e.amount)

    @process_event.register
    def _swept(self, e: Distribution.Swept, tracking: Tracking) -> None:
        self._set("swept", e, tracking, "swept = swept + %(amount)s", amount=e.amount)

    @process_event.register
    def _planned(self, e: PayoutBatch.Planned, tracking: Tracking) -> None:
        if "planned" not in self._handlers:
            self._handlers["planned"] = self._settlement(
                "INSERT INTO {b} (batch_id, distribution_id, settled) VALUES (%(id)s,"
                " %(distribution)s, %(empty)s) ON CONFLICT DO NOTHING"
                " RETURNING distribution_id, settled::int AS delta")
        self.segments.add(self._handlers["planned"], {
            "id": e.originator_id, "distribution": e.distribution_id, "empty": not e.leaf_count,
            "at": e.timestamp, "pos": tracking.notification_id})

    def _settlement(self, change: str) -> Handler:
        """`change` a batch's settled flag, returning how batches_settled moves (`delta`)."""
        return executemany(sql.SQL(
            "WITH s AS (" + change + ") UPDATE {d} AS d SET batches_settled ="  # noqa: S608
            " d.batches_settled + s.delta, updated_at = %(at)s, position = %(pos)s"
            " FROM s WHERE s.delta <> 0 AND d.distribution_id = s.distribution_id"
        ).format(b=self.view.table(BATCHES), d=self.view.table(TABLE)))

    def _settled_flag(self, e: Any, tracking: Tracking, settled: bool) -> None:
        if "settled" not in self._handlers:
            self._handlers["settled"] = self._settlement(
                "UPDATE {b} SET settled = %(settled)s WHERE batch_id = %(id)s"
                " AND settled <> %(settled)s"
                " RETURNING distribution_id, CASE WHEN settled THEN 1 ELSE -1 END AS delta")
        self.segments.add(self._handlers["settled"], {
            "id": e.originator_id, "settled": settled, "at": e.timestamp,
            "pos": tracking.notification_id})

    @process_event.register
    def _settled(self, e: PayoutBatch.Settled, tracking: Tracking) -> None:
        self._settled_flag(e, tracking, settled=True)

    @process_event.register
    def _submitted(self, e: PayoutBatch.Submitted, tracking: Tracking) -> None:
        self._settled_flag(e, tracking, settled=False)  # a settled batch's failures resent

    @process_event.register
    def _rejected(self, e: PayoutBatch.SubmissionRejected, tracking: Tracking) -> None:
        self._settled_flag(e, tracking, settled=False)

    @process_event.register
    def _attempt_failed(self, e: PayoutBatch.AttemptFailed, tracking: Tracking) -> None:
        if e.retry_at is None:  # gave up: BLOCKED
            self._settled_flag(e, tracking, settled=False)

    @process_event.register
    def _batch_retry(self, e: PayoutBatch.RetryRequested, tracking: Tracking) -> None:
        if e.leaf_indices or e.unblocked:  # back to PLANNED
            self._settled_flag(e, tracking, settled=False)
        self.counters.retried(e.originator_id, e.leaf_indices)

    @process_event.register
    def _leaves_paid(self, e: PayoutBatch.LeavesPaid, tracking: Tracking) -> None:
        self.counters.paid_leaves(e.originator_id, e.leaf_indices, e.amount)
        self.units.paid(e.originator_id, e.leaf_indices)

    @process_event.register
    def _paid(self, e: PayoutBatch.LeafPaid, tracking: Tracking) -> None:
        self.counters.paid(e.originator_id, e.leaf_index, e.amount)
        self.units.paid(e.originator_id, [e.leaf_index])

    @process_event.register
    def _claimed(self, e: PayoutBatch.LeafClaimed, tracking: Tracking) -> None:
        self.counters.paid(e.originator_id, e.leaf_index, e.amount)
        self.units.paid(e.originator_id, [e.leaf_index])

    @process_event.register
    def _holders_entitled(self, e: PayoutBatch.HoldersEntitled, tracking: Tracking) -> None:
        self.units.entitled(e.originator_id, ((row[6], row[2]) for row in e.holders))

    @process_event.register
    def _holder_entitled(self, e: PayoutBatch.HolderEntitled, tracking: Tracking) -> None:
        self.units.entitled(e.originator_id, [(e.leaf_index, e.balance)])

    @process_event.register
    def _failed(self, e: PayoutBatch.LeafFailed, tracking: Tracking) -> None:
        self.counters.failed(e.originator_id, e.leaf_index)

    def _pending(self, e: Any, tracking: Tracking, sign: int) -> None:
        """A batch event moving its distribution's pending airdrops by `sign` times its leaves."""
        if "pending" not in self._handlers:
            self._handlers["pending"] = executemany(sql.SQL(
                "UPDATE {t} AS d SET pending_claim_count = d.pending_claim_count + %(n)s,"
                " pending_claim_amount = d.pending_claim_amount + %(amount)s,"
                " updated_at = %(at)s, position = %(pos)s FROM {b} AS b"
                " WHERE b.batch_id = %(id)s AND d.distribution_id = b.distribution_id"
            ).format(t=self.view.table(TABLE), b=self.view.table(BATCHES)))
        self.segments.add(self._handlers["pending"], {
            "id": e.originator_id, "n": sign * len(e.leaf_indices), "amount": sign * e.amount,
            "at": e.timestamp, "pos": tracking.notification_id})

    @process_event.register
    def _airdrop_pending(self, e: PayoutBatch.HtsAirdropPending, tracking: Tracking) -> None:
        self._pending(e, tracking, +1)

    @process_event.register
    def _airdrop_claimed(self, e: PayoutBatch.HtsAirdropClaimed, tracking: Tracking) -> None:
        self._pending(e, tracking, -1)
        self.counters.paid_leaves(e.originator_id, e.leaf_indices, e.amount)

    @process_event.register
    def _airdrop_cancelled(self, e: PayoutBatch.HtsAirdropCancelled,
                           tracking: Tracking) -> None:
        self._pending(e, tracking, -1)
        for leaf in e.leaf_indices:
            self.counters.failed(e.originator_id, leaf)

    def write(self, cur: Cursor[DictRow]) -> None:
        self.segments.write(cur)  # rows and links first: the counters join through them
        self.counters.write(cur)
        self.units.write(cur, self.fast)
