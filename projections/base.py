"""The shape every read model shares: a library `Projection` whose `process_event` only
buffers, and a `write` that applies the buffer with set-based SQL in the runner's
transaction (together with the tracking position)."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar

from eventsourcing.persistence import Tracking
from eventsourcing.projection import Projection
from psycopg import Cursor, sql
from psycopg.rows import DictRow

from domain.topics import topics_of
from projections.store import ViewStore

Handler = Callable[[Cursor[DictRow], list[Any]], None]


def topics(*classes: type) -> tuple[str, ...]:
    """Every topic the classes' events are stored under, old ones included (domain.topics)."""
    return tuple(t for c in classes for t in topics_of(c))


class TableProjection(Projection[ViewStore]):
    """One read model. Subclasses set `name`, `topics`, `tables`, and `ddl`.

    `version` goes up whenever rows built by the previous code are wrong for the new code
    (events it ignored, a column whose meaning changed): the projector rebuilds live tables
    stamped with an older version (projections.rebuild.stale). Columns added later
    go in `added_columns`, run on every start, so the API's SELECT lists work on the old
    tables until the rebuilt ones are swapped in.
    """

    tables: ClassVar[tuple[str, ...]] = ()
    version: ClassVar[int] = 1

    @staticmethod
    @abstractmethod
    def ddl(store: ViewStore) -> list[sql.Composed]:
        """CREATE statements for this projection's tables, named through `store.table`."""

    @staticmethod
    def added_columns(store: ViewStore) -> list[sql.Composed]:
        """`ALTER TABLE … ADD COLUMN IF NOT EXISTS` for columns added after the first DDL
        (defined only here, so old and new tables have the same column order)."""
        return []

    @abstractmethod
    def write(self, cur: Cursor[DictRow]) -> None:
        """Apply (and clear) what `process_event` buffered."""

    def process_raw(self, topic: str, originator_id: Any, state: bytes,
                    tracking: Tracking) -> bool:
        """Handle a stored event without the mapper (a fast path); False: not handled."""
        return False

    @abstractmethod
    def reset(self) -> None:
        """Forget the buffer: its transaction was rolled back."""


class Segments:
    """Buffered writes in event order; consecutive writes of one kind go as one statement.

    For low-volume events the order of statements is the order of events, which keeps the
    projections simple and obviously correct; the bulk cases batch themselves.
    """

    def __init__(self) -> None:
        self._items: list[tuple[Handler, list[Any]]] = []

    def add(self, handler: Handler, row: Any) -> None:
        if self._items and self._items[-1][0] == handler:
            self._items[-1][1].append(row)
        else:
            self._items.append((handler, [row]))

    def write(self, cur: Cursor[DictRow]) -> None:
        for handler, rows in self._items:
            handler(cur, rows)
        self._items.clear()

    def clear(self) -> None:
        self._items.clear()


def executemany(statement: sql.Composed) -> Handler:
    def handler(cur: Cursor[DictRow], rows: list[Any]) -> None:
        cur.executemany(statement, rows)
    return handler


class SegmentedProjection(TableProjection):
    """A read model that buffers its writes in `Segments`, one statement per kind of write,
    composed once (`handler`) and reused for every event of that kind."""

    def __init__(self, view: ViewStore) -> None:
        super().__init__(view)
        self.segments = Segments()
        self._handlers: dict[str, Handler] = {}

    def handler(self, key: str, compose: Callable[[], sql.Composed]) -> Handler:
        if key not in self._handlers:
            self._handlers[key] = executemany(compose())
        return self._handlers[key]

    def write(self, cur: Cursor[DictRow]) -> None:
        self.segments.write(cur)

    def reset(self) -> None:
        self.segments.clear()

