"""A zygote for the demo's child processes: forked children instead of fresh interpreters.

Each `mass-payout worker | ingest | supervise | project` started as a new interpreter spends
seconds importing the same modules (web3, eventsourcing, rq, psycopg, the CLI); the demo
starts five of them on two cores at once, and that was most of its wall time. The launcher
is forked from the demo before anything connects (no socket, no thread: nothing a fork could
share by mistake), imports the child processes' modules once, then forks each child from that
state. A child is the same `mass-payout` command run by the same code (`mass_payout.cli.main`),
with its own environment, session, log and exit status; only the imports are shared.

The launcher reaps its children and reports each exit status back on a pipe, so the demo holds
`Forked` handles that answer `poll`/`wait` like `subprocess.Popen`. It exits when the demo
closes its end of the request pipe (or dies) and its last child has exited. A launcher that
fails (its preload raised) reports why on the same pipe and exits: the demo's next `spawn`
raises LauncherError with that reason at once, instead of waiting for a child that never comes.

The launcher's own side (its loop, each child's start) is devtools.zygote.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from devtools import zygote


class LauncherError(RuntimeError):
    """The launcher is gone, or did not fork a child: no `mass-payout` process can start."""


class Launcher:
    """Forks `mass-payout` children from a process that has imported their modules."""

    def __init__(self, pid: int, requests: int, replies: int) -> None:
        """Use `start`."""
        self.pid = pid
        self._requests = requests
        self._replies = replies
        self._buffer = b""
        self.exits: dict[int, int] = {}  # child pid -> exit code (negative: killed by signal)
        self.spawned: set[int] = set()  # every child it forked for us
        self.failure: str | None = None  # why it stopped, when it reported an error
        self.returncode: int | None = None  # its own, once it has exited
        self.closed = False

    @classmethod
    def start(cls, main: Callable[[], object], preload: Callable[[], object]) -> Launcher:
        """Fork the launcher now; it runs `preload` (the children's imports) while the caller
        goes on. Each child then runs `main` (the console script's) with its arguments."""
        request_r, request_w = os.pipe()
        reply_r, reply_w = os.pipe()
        sys.stdout.flush()  # a fork copies unflushed output: it would be written twice
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the launcher
            os.close(request_w)
            os.close(reply_r)
            zygote.run(request_r, reply_w, main, preload)  # never returns
        os.close(request_r)
        os.close(reply_w)
        os.set_blocking(reply_r, False)
        return cls(pid, request_w, reply_r)

    def spawn(self, args: list[str], env: dict[str, str], log: Path | None,
              timeout: float = 60) -> Forked:
        """The child `mass-payout *args`, forked; LauncherError when the launcher has exited
        (with the reason it reported) or did not fork it within `timeout` (it may still be
        importing: the demo's first children are asked for while it does)."""
        command = ["mass-payout", *args]
        request = json.dumps({"args": args, "env": env, "log": str(log) if log else None})
        with contextlib.suppress(BrokenPipeError):  # it has exited: said below, with why
            os.write(self._requests, request.encode() + b"\n")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for message in self._read(wait=0.1):
                if "pid" in message:
                    self.spawned.add(int(message["pid"]))
                    return Forked(self, int(message["pid"]), command)
            if not self.alive():
                self._read(wait=0)  # what it said before it exited
                raise LauncherError(
                    f"the launcher (pid {self.pid}) exited with code {self.returncode} before"
                    f" forking {' '.join(command)}: {self.failure or 'it gave no reason'}")
        raise LauncherError(f"the launcher did not fork {' '.join(command)} in {timeout:.0f} s")

    def collect(self) -> None:
        """Record the exit statuses the launcher has reported so far."""
        if self.closed:
            return
        for _ in self._read(wait=0):
            pass

    def _read(self, wait: float) -> list[dict[str, Any]]:
        """Reported messages; exit statuses are recorded here, whoever reads them."""
        if select.select([self._replies], [], [], wait)[0]:
            with contextlib.suppress(BlockingIOError):
                while chunk := os.read(self._replies, 65536):
                    self._buffer += chunk
        *lines, self._buffer = self._buffer.split(b"\n")
        messages = [json.loads(line) for line in lines if line]
        for message in messages:
            if "exited" in message:
                self.exits[int(message["exited"])] = int(message["code"])
            if "failed" in message:
                self.failure = str(message["failed"])
        return messages

    def alive(self) -> bool:
        """Whether the launcher runs; once it has exited, its code is `returncode`."""
        if self.returncode is not None:
            return False
        try:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:  # reaped by someone else: its status is lost
            self.returncode = -signal.SIGKILL
            return False
        if pid:
            self.returncode = os.waitstatus_to_exitcode(status)
        return not pid

    def close(self, timeout: float = 5) -> None:
        """No more children: the launcher exits once those it started have exited (they
        have, when `Children.stop_all` calls this), and their exit statuses are kept. Any
        still running after `timeout` are killed with their process groups, then the
        launcher if it still has not exited: nothing it forked outlives the demo."""
        if self.closed:
            return
        os.close(self._requests)
        if not self._exited_within(timeout):
            for pid in self.spawned - self.exits.keys():
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, signal.SIGKILL)
            if not self._exited_within(2):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.pid, signal.SIGKILL)
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(self.pid, 0)
                self.returncode = -signal.SIGKILL
        self._read(wait=0)  # the last exit statuses it reported
        self.closed = True
        os.close(self._replies)

    def _exited_within(self, timeout: float) -> bool:
        """Wait for the launcher to exit, recording the exit statuses it reports meanwhile."""
        deadline = time.monotonic() + timeout
        while self.alive():
            if time.monotonic() > deadline:
                return False
            self._read(wait=0.01)
        return True


class Forked:
    """A child the launcher forked, with what the demo uses of `subprocess.Popen`."""

    def __init__(self, launcher: Launcher, pid: int, args: list[str]) -> None:
        self.launcher = launcher
        self.pid = pid
        self.args = args  # the command, as `Popen.args`
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            self.launcher.collect()
            self.returncode = self.launcher.exits.get(self.pid)
            if self.returncode is None and not self.launcher.alive() and not _exists(self.pid):
                self.returncode = -signal.SIGKILL  # its launcher is gone: no status to read
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while (code := self.poll()) is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(self.args, timeout or 0)
            time.sleep(0.02)
        return code


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
