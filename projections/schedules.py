"""Schedules: each schedule's summary (the fields of app.schedules.Schedule), one row each,
and its occurrences, spawned (with their distribution) or missed, one row each.

The API lists and shows schedules from here, as it does distributions; the CLI still replays
the aggregates through app.schedules, with no projector needed. Both answer the same Structs,
so the rows keep what the aggregate would say: `next_number` moves only for a recurring
schedule (a corporate action's number is the token's action id, not a count), and the list's
order is the position of each schedule's `Created` event, as the CLI's is.
"""

from __future__ import annotations

from typing import Any

from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.persistence import Tracking
from psycopg import sql

from domain.schedule import Schedule
from domain.terms import Trigger
from projections.base import Handler, SegmentedProjection, topics
from projections.store import ViewStore

TABLE, OCCURRENCES = "schedules", "schedule_occurrences"
# The next recurring occurrence after `number` (%(next)s); a corporate-action schedule has none.
_NEXT = sql.SQL("next_number = CASE WHEN trigger IS DISTINCT FROM {} THEN"
                " greatest(next_number, %(next)s) ELSE next_number END").format(
    sql.Literal(Trigger.ON_CORPORATE_ACTION_DATE.value))


class Schedules(SegmentedProjection):
    name = "schedules"
    tables = (TABLE, OCCURRENCES)
    topics = topics(Schedule.Created, Schedule.Approved, Schedule.Paused, Schedule.Resumed,
                    Schedule.Cancelled, Schedule.OccurrenceSpawned, Schedule.OccurrencesMissed,
                    Schedule.Finished)

    @staticmethod
    def ddl(store: ViewStore) -> list[sql.Composed]:
        table = store.table(TABLE)
        return [
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (schedule_id uuid PRIMARY KEY,"
                " asset_id uuid NOT NULL, key text NOT NULL, status text NOT NULL,"
                " kind text NOT NULL, rule_kind text NOT NULL, rule_value text NOT NULL,"
                " recurrence text, cadence_start timestamptz, cadence_end timestamptz,"
                " cadence_count int, trigger text, missed_policy text NOT NULL,"
                " misfire_grace_seconds int NOT NULL, concept text NOT NULL,"
                " created_by text NOT NULL, approved_by text, paused_reason text NOT NULL,"
                " next_number bigint NOT NULL, spawned int NOT NULL, missed int NOT NULL,"
                " created_position bigint NOT NULL, created_at timestamptz NOT NULL,"
                " updated_at timestamptz NOT NULL, position bigint NOT NULL)").format(table),
            sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} (created_position)").format(
                sql.Identifier(f"{store.table_name(TABLE)}_created"), table),
            sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} (asset_id, created_position)").format(
                sql.Identifier(f"{store.table_name(TABLE)}_asset"), table),
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (schedule_id uuid NOT NULL, number bigint NOT NULL,"
                " distribution_id uuid, due_at timestamptz NOT NULL, position bigint NOT NULL,"
                " PRIMARY KEY (schedule_id, number))").format(store.table(OCCURRENCES)),
        ]

    def _handler(self, key: str, statement: str, table: str = TABLE,
                 *parts: sql.Composable) -> Handler:
        """A statement per event kind, composed once."""
        return self.handler(key, lambda: sql.SQL(statement).format(
            self.view.table(table), *parts))

    def _set(self, key: str, e: Any, tracking: Tracking, assignments: str,
             *parts: sql.Composable, **values: Any) -> None:
        """An UPDATE of one schedule's row."""
        handler = self._handler(
            key, "UPDATE {} SET " + assignments + ", updated_at = %(at)s,"  # noqa: S608
            " position = %(pos)s WHERE schedule_id = %(id)s", TABLE, *parts)
        values.update(id=e.originator_id, at=e.timestamp, pos=tracking.notification_id)
        self.segments.add(handler, values)

    def _occurrence(self, e: Any, tracking: Tracking, number: int, distribution_id: Any,
                    due_at: Any) -> None:
        self.segments.add(self._handler(
            "occurrence", "INSERT INTO {} VALUES (%s, %s, %s, %s, %s)", OCCURRENCES),
            (e.originator_id, number, distribution_id, due_at, tracking.notification_id))

    @singledispatchmethod
    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        """Events of other topics never reach this projection."""

    @process_event.register
    def _created(self, e: Schedule.Created, tracking: Tracking) -> None:
        t, cadence = e.terms, e.terms.execution
        self.segments.add(self._handler(
            "created", "INSERT INTO {} VALUES (%s, %s, %s, 'PENDING_APPROVAL', %s, %s, %s, %s,"
            " %s, %s, %s, %s, %s, %s, %s, %s, NULL, '', 0, 0, 0, %s, %s, %s, %s)"), (
            e.originator_id, e.asset_id, e.key, t.kind.value, t.rule.kind.value,
            str(t.rule.value), cadence.recurrence and cadence.recurrence.value,
            cadence.start, cadence.end, cadence.count, cadence.trigger and cadence.trigger.value,
            e.missed_policy, e.misfire_grace_seconds, t.concept, e.actor,
            tracking.notification_id, e.timestamp, e.timestamp, tracking.notification_id))

    @process_event.register
    def _approved(self, e: Schedule.Approved, tracking: Tracking) -> None:
        self._set("approved", e, tracking, "status = 'ACTIVE', approved_by = %(actor)s",
                  actor=e.actor)

    @process_event.register
    def _paused(self, e: Schedule.Paused, tracking: Tracking) -> None:
        self._set("paused", e, tracking, "status = 'PAUSED', paused_reason = %(reason)s",
                  reason=e.reason)

    @process_event.register
    def _resumed(self, e: Schedule.Resumed, tracking: Tracking) -> None:
        self._set("resumed", e, tracking, "status = 'ACTIVE', paused_reason = ''")

    @process_event.register
    def _cancelled(self, e: Schedule.Cancelled, tracking: Tracking) -> None:
        self._set("cancelled", e, tracking, "status = 'CANCELLED'")

    @process_event.register
    def _finished(self, e: Schedule.Finished, tracking: Tracking) -> None:
        self._set("finished", e, tracking, "status = 'FINISHED'")

    @process_event.register
    def _spawned(self, e: Schedule.OccurrenceSpawned, tracking: Tracking) -> None:
        self._occurrence(e, tracking, e.number, e.distribution_id, e.due_at)
        self._set("spawned", e, tracking, "spawned = spawned + 1, {}", _NEXT,
                  next=e.number + 1)

    @process_event.register
    def _missed(self, e: Schedule.OccurrencesMissed, tracking: Tracking) -> None:
        for number, due_at in zip(e.numbers, e.due_ats, strict=True):
            self._occurrence(e, tracking, number, None, due_at)
        self._set("missed", e, tracking, "missed = missed + %(count)s, {}", _NEXT,
                  count=len(e.numbers), next=max(e.numbers, default=-1) + 1)
