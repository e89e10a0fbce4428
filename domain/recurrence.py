"""When a recurring schedule's occurrences fall due: pure calendar arithmetic, in UTC.

Occurrence n is computed from the start, never from occurrence n-1, so a monthly schedule
started on Jan 31 runs on Feb 28 (29 in a leap year), then Mar 31 again: the clamp does not
drift. `end` is exclusive: hourly from Jan 1 00:00 to Jan 4 00:00 is 72 occurrences.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from datetime import datetime, timedelta

from domain.terms import Execution, ExecutionKind, Recurrence

_FIXED = {
    Recurrence.HOURLY: timedelta(hours=1),
    Recurrence.DAILY: timedelta(days=1),
    Recurrence.WEEKLY: timedelta(weeks=1),
}


def add_months(moment: datetime, months: int) -> datetime:
    """The same day and time `months` later, clamped to the last day of a shorter month."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def occurrence_at(recurrence: Recurrence, start: datetime, number: int) -> datetime:
    """When occurrence `number` (0-based) of a schedule starting at `start` falls due."""
    if number < 0:
        raise ValueError("occurrence numbers start at 0")
    if recurrence is Recurrence.MONTHLY:
        return add_months(start, number)
    return start + _FIXED[recurrence] * number


def occurrences(cadence: Execution, first: int = 0) -> Iterator[tuple[int, datetime]]:
    """Every (number, due time) of a RECURRING cadence from `first`, in order, to its end."""
    if cadence.kind is not ExecutionKind.RECURRING or cadence.recurrence is None \
            or cadence.start is None:
        raise ValueError("only a RECURRING cadence has occurrences")
    number = first
    while cadence.count is None or number < cadence.count:
        due = occurrence_at(cadence.recurrence, cadence.start, number)
        if cadence.end is not None and due >= cadence.end:
            return
        yield number, due
        number += 1


def due_until(cadence: Execution, first: int, now: datetime) -> list[tuple[int, datetime]]:
    """The occurrences from `first` that are due at `now` (due time at or before it)."""
    due = []
    for number, at in occurrences(cadence, first):
        if at > now:
            break
        due.append((number, at))
    return due


def is_exhausted(cadence: Execution, next_number: int) -> bool:
    """No occurrence is left from `next_number` on."""
    return next(occurrences(cadence, next_number), None) is None
