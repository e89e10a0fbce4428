"""When a recurring schedule's occurrences fall due: pure calendar arithmetic, in UTC.

Occurrence n is computed from the start, never from occurrence n-1, so a monthly schedule
started on Jan 31 runs on Feb 28 (29 in a leap year), then Mar 31 again: the clamp does not
drift. `end` is exclusive: hourly from Jan 1 00:00 to Jan 4 00:00 is 72 occurrences.
Month arithmetic is dateutil's `relativedelta` (which clamps to a shorter month's last day);
QUARTERLY, SEMI_ANNUAL and ANNUAL are 3, 6 and 12 months a step, and `interval` multiplies
any step (every N months is MONTHLY with interval N). With the end-of-month rule a cadence
that starts on a month's last day falls on every month's last day: Feb 28 → May 31 → Aug 31.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

from dateutil.relativedelta import relativedelta

from domain.daycount import is_month_end
from domain.terms import RECURRENCE_MONTHS, Execution, ExecutionKind, Recurrence

_FIXED = {
    Recurrence.HOURLY: timedelta(hours=1),
    Recurrence.DAILY: timedelta(days=1),
    Recurrence.WEEKLY: timedelta(weeks=1),
}


def add_months(moment: datetime, months: int, end_of_month: bool = False) -> datetime:
    """The same day and time `months` later, clamped to the last day of a shorter month; with
    `end_of_month`, a moment on a month's last day moves to the last day of that month."""
    moved: datetime = moment + relativedelta(months=months)
    if end_of_month and is_month_end(moment.date()):
        moved = moved + relativedelta(day=31)
    return moved


def occurrence_at(recurrence: Recurrence, start: datetime, number: int, *, interval: int = 1,
                  end_of_month: bool = False) -> datetime:
    """When occurrence `number` (0-based) of a schedule starting at `start` falls due."""
    if number < 0:
        raise ValueError("occurrence numbers start at 0")
    if recurrence in RECURRENCE_MONTHS:
        return add_months(start, RECURRENCE_MONTHS[recurrence] * interval * number,
                          end_of_month)
    return start + _FIXED[recurrence] * interval * number


def due_at(cadence: Execution, number: int) -> datetime:
    """When occurrence `number` of a RECURRING cadence falls due, with its interval and rule."""
    if cadence.recurrence is None or cadence.start is None:
        raise ValueError("only a RECURRING cadence has occurrences")
    return occurrence_at(cadence.recurrence, cadence.start, number,
                         interval=cadence.interval or 1, end_of_month=cadence.end_of_month)


def occurrences(cadence: Execution, first: int = 0) -> Iterator[tuple[int, datetime]]:
    """Every (number, due time) of a RECURRING cadence from `first`, in order, to its end."""
    if cadence.kind is not ExecutionKind.RECURRING or cadence.recurrence is None \
            or cadence.start is None:
        raise ValueError("only a RECURRING cadence has occurrences")
    number = first
    while cadence.count is None or number < cadence.count:
        due = due_at(cadence, number)
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
