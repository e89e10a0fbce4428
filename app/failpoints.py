"""Named crash points for the crash tests: a real SIGKILL at an exact line of a real process.

A process started with `MASS_PAYOUT_FAILPOINT=after-record` (read by the settings, armed by
the bootstrap) kills itself after it recorded a submission and before it broadcast it, and
so on; with `after-take` a worker dies holding a batch's job before it recorded anything
(the job keeps the batch's id until the supervisor takes it back). Unarmed (always, in
production) it costs one comparison.
"""

from __future__ import annotations

import os
import signal

_armed: str | None = None


def arm(name: str | None) -> None:
    """Called once by the process's bootstrap with the configured failpoint (or None)."""
    global _armed  # noqa: PLW0603 (process-wide by nature: this process's crash point)
    _armed = name


def failpoint(name: str) -> None:
    if _armed == name:
        os.kill(os.getpid(), signal.SIGKILL)
