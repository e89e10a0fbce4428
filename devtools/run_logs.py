"""Each demo run's logs in a directory of its own under `var/logs`, the last KEPT_RUNS kept.

Every run's processes used to append to the same files in `var/logs`, forever: the log of a
failure was mixed with those of every run before it, and the directory only grew. A run now
writes to `var/logs/<UTC start>-<scenario>/` (the names sort in the order the runs started),
and starting one deletes the oldest run directories beyond KEPT_RUNS. Only directories named
so are deleted: anything else under `var/logs` (a benchmark's logs) is not the demo's.
"""

from __future__ import annotations

import re
import shutil
from datetime import UTC, datetime
from pathlib import Path

KEPT_RUNS = 10  # this run's directory included
_RUN = re.compile(r"\d{8}T\d{6}Z-[a-z0-9-]+")


def new_run(var_dir: Path, scenario: str, *, now: datetime | None = None) -> Path:
    """A new, empty directory for this run's logs; older runs beyond KEPT_RUNS deleted."""
    root = var_dir / "logs"
    root.mkdir(parents=True, exist_ok=True)
    name = f"{now or datetime.now(UTC):%Y%m%dT%H%M%SZ}-{scenario}"
    path, number = root / name, 1
    while True:
        try:
            path.mkdir()
            break
        except FileExistsError:  # a run started in the same second
            number += 1
            path = root / f"{name}-{number}"
    runs = sorted(p for p in root.iterdir() if _RUN.fullmatch(p.name) and p.is_dir())
    for old in runs[:-KEPT_RUNS]:
        if old != path:
            shutil.rmtree(old, ignore_errors=True)
    return path
