"""The demo's launcher (devtools.launcher): children forked from it behave as processes
started by `subprocess.Popen` would, and closing it leaves nothing behind.

Real forks of this test process: the launcher takes any `main` and `preload`, and these
tests give it tiny ones (`_main` below) so that each child starts in milliseconds.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from devtools.launcher import Launcher, LauncherError

# Forked processes against timing: with the other process tests, one after another.
pytestmark = [pytest.mark.xdist_group("processes"), pytest.mark.timeout(60)]


def _main() -> None:
    """The children's `mass-payout`: `exit N` reports what it runs with and exits N; `sleep S`
    exits 0 after S seconds; `trap` exits 3 on SIGTERM; anything else waits to be killed."""
    command = sys.argv[1]
    if command == "exit":
        print(json.dumps({"argv": sys.argv, "greeting": os.environ.get("GREETING"),
                          "parent_only": os.environ.get("ONLY_IN_THE_PARENT"),
                          "own_session": os.getsid(0) == os.getpid()}))
        raise SystemExit(int(sys.argv[2]))
    if command == "sleep":
        time.sleep(float(sys.argv[2]))
        return
    if command == "trap":
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(3))
        print("ready", flush=True)
    while True:
        time.sleep(60)


def _nothing() -> None:
    pass


@pytest.fixture
def launch() -> Iterator[Callable[..., Launcher]]:
    """Start a launcher; whatever a failing test leaves running is killed afterwards."""
    started: list[Launcher] = []

    def start(preload: Callable[[], None] = _nothing) -> Launcher:
        started.append(Launcher.start(_main, preload))
        return started[-1]

    yield start
    for launcher in started:
        for pid in launcher.spawned - launcher.exits.keys():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        launcher.close(timeout=2)


@pytest.fixture
def launcher(launch: Callable[..., Launcher]) -> Launcher:
    return launch()


def _gone(pid: int) -> bool:
    return not psutil.pid_exists(pid)


def _until(condition: Callable[[], bool], timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "not within the time allowed"
        time.sleep(0.01)


def test_a_child_runs_with_its_own_environment_arguments_session_and_exit_status(
        launch, monkeypatch, tmp_path):
    # The demo's environment has a variable the child's was not given.
    monkeypatch.setenv("ONLY_IN_THE_PARENT", "1")
    launcher = launch()
    # A child asked for with its arguments, its environment and its log...
    child = launcher.spawn(["exit", "7"], {"GREETING": "hello"}, tmp_path / "child.log")
    # ...exits with its own status, and wrote to its own log what it ran with.
    assert child.wait(timeout=5) == 7
    assert child.args == ["mass-payout", "exit", "7"]
    seen = json.loads((tmp_path / "child.log").read_text())
    assert seen == {"argv": ["mass-payout", "exit", "7"], "greeting": "hello",
                    "parent_only": None, "own_session": True}


def test_poll_and_wait_answer_as_popen_does(launcher):
    # The same sequence asked of a forked child and of a subprocess: running, a wait that
    # times out, killed, then the same code from wait and poll.
    forked = launcher.spawn(["run"], {}, None)
    popen = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    for child in (forked, popen):
        assert child.poll() is None
        with pytest.raises(subprocess.TimeoutExpired):
            child.wait(timeout=0.2)
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(timeout=5) == -signal.SIGKILL
        assert child.poll() == -signal.SIGKILL
        assert child.returncode == -signal.SIGKILL


def _ignores(pid: int, signum: int) -> bool:
    status = Path(f"/proc/{pid}/status").read_text()
    ignored = int(next(line for line in status.splitlines() if line.startswith("SigIgn:"))
                  .split()[1], 16)
    return bool(ignored & (1 << (signum - 1)))


def test_sigterm_to_a_childs_group_reaches_it(launcher, tmp_path):
    # As `Children.stop_all` stops it: SIGTERM to its process group, which exists, and which
    # SIGTERM stops, as soon as `spawn` returns (the launcher ignores SIGTERM: not the child).
    plain = launcher.spawn(["run"], {}, None)
    assert os.getpgid(plain.pid) == plain.pid
    assert not _ignores(plain.pid, signal.SIGTERM)
    os.killpg(plain.pid, signal.SIGTERM)
    assert plain.wait(timeout=5) == -signal.SIGTERM
    # ...and a command that handles SIGTERM (as the worker does) gets to run its handler.
    trapping = launcher.spawn(["trap"], {}, tmp_path / "trap.log")
    _until(lambda: (tmp_path / "trap.log").exists()
           and "ready" in (tmp_path / "trap.log").read_text())
    os.killpg(trapping.pid, signal.SIGTERM)
    assert trapping.wait(timeout=5) == 3


def test_closing_waits_for_the_last_child_then_nothing_is_left(launch):
    launcher = launch()
    child = launcher.spawn(["sleep", "0.6"], {}, None)
    # The demo closes its end while the child still runs: the launcher waits for it.
    started = time.monotonic()
    launcher.close(timeout=10)
    assert time.monotonic() - started >= 0.4
    # Then both are gone, and the child's exit status was kept.
    assert launcher.returncode == 0
    assert _gone(launcher.pid) and _gone(child.pid)
    assert child.poll() == 0


def test_closing_kills_a_child_that_does_not_exit_and_its_launcher(launch):
    launcher = launch()
    child = launcher.spawn(["run"], {}, None)
    started = time.monotonic()
    launcher.close(timeout=0.3)
    assert time.monotonic() - started < 3
    assert _gone(launcher.pid) and _gone(child.pid)
    assert child.poll() == -signal.SIGKILL


def _fails_at_once() -> None:
    raise ImportError("no module named 'imaginary'")


def _fails_later() -> None:
    time.sleep(0.3)  # still importing when the demo asks for its first child
    raise ImportError("no module named 'imaginary'")


@pytest.mark.parametrize("preload", [_fails_at_once, _fails_later])
def test_a_launcher_whose_preload_raises_says_why_at_once(launch, preload, capfd):
    launcher = launch(preload)
    if preload is _fails_at_once:  # the demo's request then meets a closed pipe
        _until(lambda: not launcher.alive())
    started = time.monotonic()
    with pytest.raises(LauncherError, match=r"code 1 .*ImportError: no module named 'imaginary'"):
        launcher.spawn(["run"], {}, None, timeout=20)
    assert time.monotonic() - started < 5
    # Its traceback is on stderr, the demo's terminal.
    assert "Traceback" in capfd.readouterr().err
    launcher.close(timeout=2)
    assert _gone(launcher.pid)


def _title(pid: int) -> str:
    """What `ps -o args` shows for `pid`."""
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()


def test_ps_names_the_launcher_and_each_child_by_its_command(launcher):
    child = launcher.spawn(["worker", "--burst"], {}, None)
    assert _title(launcher.pid) == "mass-payout launcher"
    _until(lambda: _title(child.pid) == "mass-payout worker --burst", timeout=2)
    os.killpg(child.pid, signal.SIGKILL)
    child.wait(timeout=5)
