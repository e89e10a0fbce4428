"""`audit as-of`: a distribution and its holders as they stood at a ledger position or a time.

Answered by replaying each aggregate up to the last version it had recorded at that
position (the library's `repository.get(version=…)`), never from a read model: what the
ledger knew then, not what a projection shows now. A time becomes a position first: the
last event recorded at or before it (positions are in commit order and event times follow
them, so a binary search over the log reads about 20 events).
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import DomainEvent
from eventsourcing.persistence import StoredEvent
from psycopg import sql

from app.audit import events_table, recorder_of
from app.ledger import PayoutLedger
from domain import ids
from domain.batch import PAID_OUTCOMES, BatchStatus, LeafOutcome, PayoutBatch
from domain.distribution import Distribution
from domain.entitlements import Entitlement
from domain.errors import InvalidInput, NotFound
from domain.terms import DistributionKind
from domain.topics import topics_of

# The batch events naming its holders (one per slice, or one per holder in older batches).
ENTITLING = (PayoutBatch.HoldersEntitled, PayoutBatch.HolderEntitled)


@dataclass
class DistributionAsOf:
    """The distribution at `position`, and what its batches said of each holder then."""

    position: int
    distribution: Distribution
    batches: list[PayoutBatch]
    holders: Counter[str] = field(default_factory=Counter)  # PAID, FAILED, CLAIMED, PENDING…
    paid_amount: int = 0  # Σ net of the leaves paid or claimed by then


def version_at(ledger: PayoutLedger, aggregate_id: UUID, position: int) -> int:
    """The aggregate's last version recorded at or before `position` (0: none yet)."""
    with recorder_of(ledger).datastore.transaction(commit=False) as cur:
        cur.execute(sql.SQL("SELECT max(originator_version) AS v FROM {} WHERE originator_id"
                            " = %s AND notification_id <= %s").format(events_table(ledger)),
                    (aggregate_id, position))
        row = cur.fetchone()
    return int(row["v"] or 0) if row else 0


def _time_of(ledger: PayoutLedger, position: int) -> datetime | None:
    """When the first event at or after `position` was recorded (None past the head)."""
    found = ledger.recorder.select_notifications(start=position, limit=1)
    if not found:
        return None
    event = ledger.mapper.to_domain_event(found[0])
    if not isinstance(event, DomainEvent):
        raise TypeError(f"{type(event).__name__} is not a domain event")
    return event.timestamp


def position_at(ledger: PayoutLedger, at: datetime) -> int:
    """The last ledger position recorded at or before `at` (0: before the first event)."""
    if at.tzinfo is None:
        raise InvalidInput("a time for as-of needs its UTC offset")
    low, high = 0, ledger.recorder.max_notification_id() or 0  # answer in [low, high]
    while low < high:
        middle = (low + high + 1) // 2
        recorded = _time_of(ledger, middle)
        if recorded is not None and recorded <= at:
            low = middle
        else:
            high = middle - 1
    # positions may have gaps (rolled-back saves): the search answers with an existing one
    # or with one just below the first event after `at`, which names the same state
    return low


def distribution_at(ledger: PayoutLedger, distribution_id: UUID, *,
                    position: int | None = None, at: datetime | None = None,
                    ) -> tuple[int, Distribution]:
    """The Distribution aggregate alone (its status, totals and paid/failed counters) at a
    position or a time (exactly one), with the position it was read at. Its events only: a
    few milliseconds however many holders it has. NotFound if it did not exist yet."""
    if (position is None) == (at is None):
        raise InvalidInput("as of a position or a time: give exactly one")
    head = ledger.recorder.max_notification_id() or 0
    where = position_at(ledger, at) if at is not None else int(position or 0)
    if where > head:  # not recorded yet: answering today's state would claim to know it
        raise InvalidInput(f"position {where} is past the ledger's last position {head}")
    version = version_at(ledger, distribution_id, where)
    if version == 0:
        raise NotFound(f"no distribution {distribution_id} at position {where}")
    distribution: object = ledger.repository.get(distribution_id, version=version)
    if not isinstance(distribution, Distribution):
        raise NotFound(f"{distribution_id} is not a distribution")
    return where, distribution


def distribution_as_of(ledger: PayoutLedger, distribution_id: UUID, *,
                       position: int | None = None, at: datetime | None = None,
                       ) -> DistributionAsOf:
    """`distribution_at` plus every batch then, and each holder's outcome counted."""
    where, distribution = distribution_at(ledger, distribution_id, position=position, at=at)
    result = DistributionAsOf(where, distribution, [])
    for batch in batches_at(ledger, distribution_id, range(distribution.batch_count), where):
        result.batches.append(batch)
        for holder in batch.holders:
            if holder.leaf_index is None:
                result.holders["SKIPPED"] += 1
                continue
            outcome = batch.outcomes.get(holder.leaf_index)
            result.holders[outcome.value if outcome else "PENDING"] += 1
            if outcome in (LeafOutcome.PAID, LeafOutcome.CLAIMED):
                result.paid_amount += holder.net
    return result


@dataclass(frozen=True, slots=True)
class LeafAsOf:
    leaf_index: int
    account: str
    net: int
    outcome: str  # PAID, FAILED, CLAIMED… or PENDING


def leaves_as_of(ledger: PayoutLedger, distribution_id: UUID, *, position: int | None = None,
                 at: datetime | None = None, first_leaf: int = 0,
                 limit: int = 100) -> list[LeafAsOf]:
    """One page of leaves as they stood then: only the batches covering
    `[first_leaf, first_leaf + limit)` are replayed (a batch holds a contiguous leaf range),
    so a page of a 100,000-holder distribution reads one or two batches, not all of them."""
    position, distribution = distribution_at(ledger, distribution_id, position=position,
                                             at=at)
    eligible = distribution.totals.eligible if distribution.totals else 0
    last = min(first_leaf + limit, eligible) - 1
    if first_leaf < 0 or first_leaf > last:
        return []
    found: list[LeafAsOf] = []
    numbers = range(distribution.batch_of_leaf(first_leaf), distribution.batch_of_leaf(last) + 1)
    for batch in batches_at(ledger, distribution_id, numbers, position):
        for index in range(max(first_leaf, batch.first_leaf),
                           min(last + 1, batch.first_leaf + batch.leaf_count)):
            leaf = batch.leaves[index]
            outcome = batch.outcomes.get(index)
            found.append(LeafAsOf(index, leaf.account, leaf.net,
                                  outcome.value if outcome else "PENDING"))
    return found


def batches_at(ledger: PayoutLedger, distribution_id: UUID, numbers: Iterable[int],
               position: int, *, holders: bool = True) -> list[PayoutBatch]:
    """The batches `numbers` as they stood at `position` (those planned by then), in number
    order. Their events come in one query and are applied in memory: a batch at a time
    through the repository costs two round trips each, 500 for a 100,000-holder
    distribution, which was most of an as-of's time.

    Without `holders`, the events entitling the batches' holders are neither read nor
    applied (only the version moves past them): statuses, outcomes, submissions and
    settlements, but empty `holders` and `leaves`. The evolve methods never read the
    entitlements (guards live in the commands), so the rest replays the same; decoding and
    rebuilding 100,000 entitlements was most of getDistribution's as-of."""
    wanted = [ids.batch_id(distribution_id, n) for n in numbers]
    left_out = [] if holders else [topic for cls in ENTITLING for topic in topics_of(cls)]
    with recorder_of(ledger).datastore.transaction(commit=False) as cur:
        cur.execute(sql.SQL(
            "SELECT originator_id, originator_version, topic, CASE WHEN topic = ANY(%s)"
            " THEN NULL ELSE state END AS state FROM {} WHERE originator_id = ANY(%s)"
            " AND notification_id <= %s ORDER BY originator_id, originator_version").format(
            events_table(ledger)), (left_out, wanted, position))
        rows = cur.fetchall()
    built: dict[UUID, Any] = {}
    for row in rows:
        if row["state"] is None:  # an entitling event left out: only the version moves on
            built[UUID(str(row["originator_id"]))].version = row["originator_version"]
            continue
        event = ledger.mapper.to_domain_event(StoredEvent(
            originator_id=row["originator_id"], originator_version=row["originator_version"],
            topic=row["topic"], state=bytes(row["state"])))
        key = UUID(str(row["originator_id"]))
        built[key] = event.mutate(built.get(key))  # type: ignore[attr-defined]
    found = [built[b] for b in wanted if b in built]
    for batch in found:
        if not isinstance(batch, PayoutBatch):
            raise NotFound(f"{batch.id} is not a batch")
    return found


def distribution_events_at(ledger: PayoutLedger, distribution_id: UUID, *,
                           position: int | None = None, at: datetime | None = None,
                           ) -> tuple[int, Distribution, list[DomainEvent]]:
    """`distribution_at` plus the distribution's own events up to then, oldest first: their
    times are the lifecycle's timestamps as recorded then."""
    where, distribution = distribution_at(ledger, distribution_id, position=position, at=at)
    events = [e for e in ledger.repository.event_store.get(
        distribution_id, lte=distribution.version) if isinstance(e, DomainEvent)]
    return where, distribution, events


@dataclass(frozen=True, slots=True)
class BatchFigures:
    settled: int  # batches SETTLED then
    leaf_units_paid: int  # Σ balance of the leaves paid or claimed then (a cash-out's units)


def batch_figures_at(ledger: PayoutLedger, distribution: Distribution,
                     position: int) -> BatchFigures:
    """What only the distribution's batches know, at `position`: every batch is replayed in
    one query, without its holders' entitlements unless the units are wanted (a cash-out's:
    each paid leaf's balance)."""
    cash_out = distribution.terms.kind is DistributionKind.CASH_OUT
    settled = units = 0
    for b in batches_at(ledger, distribution.id, range(distribution.batch_count), position,
                        holders=cash_out):
        settled += b.status is BatchStatus.SETTLED
        if cash_out:
            units += sum(b.leaves[i].balance for i, outcome in b.outcomes.items()
                         if outcome in PAID_OUTCOMES)
    return BatchFigures(settled, units)


@dataclass(frozen=True, slots=True)
class HolderAsOf:
    batch_number: int
    holder: Entitlement  # its snapshot position, amounts, leaf index and skip reason
    status: str  # SKIPPED, PENDING, PAID, FAILED, CLAIMED
    failure_reason: str | None
    tx_hash: str | None  # the last batch transaction carrying its leaf by then
    attempts: int  # the batch transactions carrying its leaf by then


def holders_as_of(ledger: PayoutLedger, distribution: Distribution, position: int, *,
                  after: int = -1, limit: int = 100,
                  status: str | None = None) -> list[HolderAsOf]:
    """Up to `limit` holders whose snapshot position is past `after`, in position order, as
    the batches had them at `position` (`distribution` as read there); only those with
    `status` when given.

    Batches hold contiguous slices of the holder order, so only those that can hold the
    page are replayed, a few at a time. Where to start: a holder's leaf is never past its
    position and trails it by at most the skipped count, so the holder just past `after`
    follows leaf `after - skipped` (or is in the batches sharing that leaf's first leaf)."""
    totals = distribution.totals
    if totals is None or limit <= 0:
        return []
    starts = distribution.batch_first_leaves
    first = 0
    if totals.eligible:
        leaf = min(max(after - totals.skipped, 0), totals.eligible - 1)
        first = bisect.bisect_left(starts, starts[distribution.batch_of_leaf(leaf)])
    chunk = max(1, distribution.batch_of_leaf(min(after + limit + 1, totals.eligible - 1))
                - first + 1) if totals.eligible else distribution.batch_count
    found: list[HolderAsOf] = []
    while first < distribution.batch_count:
        numbers = range(first, min(first + chunk, distribution.batch_count))
        for batch in batches_at(ledger, distribution.id, numbers, position):
            found.extend(h for h in _holders_of(batch, after)
                         if status is None or h.status == status)
            if len(found) >= limit:
                return found[:limit]
        first = numbers.stop
    return found


def _holders_of(batch: PayoutBatch, after: int) -> list[HolderAsOf]:
    carried: dict[int, list[str]] = {}  # leaf -> the transactions that carried it, in order
    for tx, leaves in batch.submitted_leaves.items():
        for leaf in leaves:
            carried.setdefault(leaf, []).append(tx)
    found: list[HolderAsOf] = []
    for holder in batch.holders:
        if holder.position <= after:
            continue
        if holder.leaf_index is None:
            found.append(HolderAsOf(batch.number, holder, "SKIPPED", None, None, 0))
            continue
        outcome = batch.outcomes.get(holder.leaf_index)
        txs = carried.get(holder.leaf_index, [])
        found.append(HolderAsOf(batch.number, holder, outcome.value if outcome else "PENDING",
                                batch.failure_reasons.get(holder.leaf_index),
                                txs[-1] if txs else None, len(txs)))
    return found
