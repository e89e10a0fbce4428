"""Each demo run logs to a directory of its own, the last ten runs are kept, and a process
that stops names its log in that directory (devtools.run_logs, devtools.children)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from devtools.children import Children
from devtools.launcher import Launcher
from devtools.run_logs import KEPT_RUNS, new_run

START = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_a_run_gets_a_new_directory_named_by_its_start_and_scenario(tmp_path):
    first = new_run(tmp_path, "dividend", now=START)
    again = new_run(tmp_path, "dividend", now=START)  # in the same second
    assert first == tmp_path / "logs" / "20260102T030405Z-dividend"
    assert again == tmp_path / "logs" / "20260102T030405Z-dividend-2"
    assert first.is_dir() and again.is_dir()


def test_starting_a_run_keeps_the_last_ten_and_nothing_else_is_touched(tmp_path):
    # Twelve earlier runs, each with its logs, and what is not a run's: a benchmark's
    # directory and a log from before runs had directories.
    earlier = [tmp_path / "logs" / f"{START + timedelta(hours=n):%Y%m%dT%H%M%SZ}-bond"
               for n in range(12)]
    for run in earlier:
        run.mkdir(parents=True)
        (run / "worker-1.log").write_text("...")
    (tmp_path / "logs" / "chaos-7").mkdir()
    (tmp_path / "logs" / "worker-1.log").write_text("an old log")
    # A new run: it and the nine runs before it are left.
    latest = new_run(tmp_path, "hts", now=START + timedelta(days=1))
    left = sorted(p for p in (tmp_path / "logs").iterdir() if p.name[:8].isdigit())
    assert KEPT_RUNS == 10
    assert left == [*earlier[-9:], latest]
    assert (tmp_path / "logs" / "chaos-7").is_dir()
    assert (tmp_path / "logs" / "worker-1.log").read_text() == "an old log"


def _fail() -> None:
    print("worker: cannot connect")
    raise SystemExit(1)


@pytest.mark.xdist_group("processes")
def test_a_process_that_stops_is_named_with_its_log_in_this_runs_directory(tmp_path):
    run = new_run(tmp_path, "dividend", now=START)
    launcher = Launcher.start(_fail, preload=lambda: None)
    try:
        children = Children({}, launcher=launcher)
        children.spawn("worker-1", "worker", log=run / "worker-1.log")
        children.processes["worker-1"].wait(timeout=5)
        # What the demo's error says: which process, and the file to open.
        assert children.stopped() == f"worker-1 (see {run / 'worker-1.log'})"
        assert "cannot connect" in (run / "worker-1.log").read_text()
    finally:
        launcher.close(timeout=2)
