"""Following the ledger: the notifications of some event classes, in order, after a position.

Everything that watches the notification log without being a projection (the scheduler, the
supervisor, the funds book, the ingestor's list of vaults, dev tooling) asks one question:
which events of these classes were recorded after position X? Asking it here names the
classes, never their topics: `domain.topics.topics_of` adds the old topic of a class that
moved, which a topic spelt by hand would miss, silently skipping every event stored under it.

`notifications` is a one-shot scan (lazy: a reader that stops early reads no further pages);
a `Follower` keeps its position, so each call returns only what was recorded since the last.
"""

from __future__ import annotations

from collections.abc import Iterator
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import Notification

from app.ledger import PayoutLedger
from domain.topics import topics_of

PAGE = 500


def notifications(ledger: PayoutLedger, *classes: type, after: int = 0,
                  page: int = PAGE) -> Iterator[Notification]:
    """Every notification of `classes` recorded after position `after`, oldest first."""
    if page < 1:
        raise ValueError("a page holds at least one notification")
    topics = [topic for cls in classes for topic in topics_of(cls)]
    position = after
    while found := ledger.recorder.select_notifications(start=position + 1, limit=page,
                                                        topics=topics):
        yield from found
        position = found[-1].id


class Follower:
    """One consumer's place in the log, for a fixed set of event classes."""

    def __init__(self, ledger: PayoutLedger, *classes: type, after: int = 0,
                 page: int = PAGE) -> None:
        self.ledger = ledger
        self.classes = classes
        self.position = after  # the last notification handed out
        self.page = page
        self._kinds = {topic: cls for cls in classes for topic in topics_of(cls)}

    def new(self) -> list[Notification]:
        """What was recorded since the last call (everything after `after`, the first time)."""
        found = list(notifications(self.ledger, *self.classes, after=self.position,
                                   page=self.page))
        if found:
            self.position = found[-1].id
        return found

    def new_events(self) -> list[DomainEventProtocol[UUID]]:
        """`new()`, decoded into domain events."""
        return [self.ledger.mapper.to_domain_event(n) for n in self.new()]

    def kind(self, note: Notification) -> type:
        """The class a notification's event is (under whichever of its topics it is stored),
        without decoding it."""
        return self._kinds[note.topic]
