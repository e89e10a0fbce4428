"""Named crash points for the crash tests: a real SIGKILL at an exact line of a real process.

`MASS_PAYOUT_FAILPOINT=after-record` kills the worker after it recorded a submission and
before it broadcast it, and so on. Unset (always, in production) it costs one dict lookup.
"""

from __future__ import annotations

import os
import signal


def failpoint(name: str) -> None:
    if os.environ.get("MASS_PAYOUT_FAILPOINT") == name:
        os.kill(os.getpid(), signal.SIGKILL)
