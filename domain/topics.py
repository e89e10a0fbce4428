"""Stored topics that no longer name a class where it lives now.

eventsourcing stores each event with its topic, `module:QualifiedName`. Moving or renaming an
event class would leave every event recorded before unreadable, so a move adds a line here
(old topic -> the class) and the ledger and the projections resolve the old topic to the
class. `tests/ledger/test_topics.py` pins every current topic, so a move cannot go unnoticed.

No event class has moved yet: the wave-2 restructure moved the application and adapters,
never `domain/`, where every stored topic lives.
"""

from __future__ import annotations

from eventsourcing.utils import get_topic, register_topic

MOVED: dict[str, type] = {}  # old topic -> the class it now resolves to


def register_moved_topics() -> None:
    """Idempotent; called when a ledger opens."""
    for old, cls in MOVED.items():
        register_topic(old, cls)


def topics_of(cls: type) -> tuple[str, ...]:
    """The topic `cls` is stored under now, and every topic it was stored under before: a
    reader selecting notifications by topic must ask for all of them."""
    return (get_topic(cls), *(old for old, moved in MOVED.items() if moved is cls))
