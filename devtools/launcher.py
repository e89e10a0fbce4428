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
closes its end of the request pipe (or dies) and its last child has exited.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from runtime.settings import become


class Launcher:
    """Forks `mass-payout` children from a process that has imported their modules."""

    def __init__(self, pid: int, requests: int, replies: int) -> None:
        """Use `start`."""
        self.pid = pid
        self._requests = requests
        self._replies = replies
        self._buffer = b""
        self.exits: dict[int, int] = {}  # child pid -> exit code (negative: killed by signal)
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
            code = 0
            try:
                _serve(request_r, reply_w, main, preload)
            except BaseException:  # noqa: BLE001  # a launcher never returns into the demo
                code = 1
            os._exit(code)
        os.close(request_r)
        os.close(reply_w)
        os.set_blocking(reply_r, False)
        return cls(pid, request_w, reply_r)

    def spawn(self, args: list[str], env: dict[str, str], log: Path | None) -> Forked:
        request = json.dumps({"args": args, "env": env, "log": str(log) if log else None})
        os.write(self._requests, request.encode() + b"\n")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            for message in self._read(wait=0.1):
                if "pid" in message:
                    return Forked(self, int(message["pid"]), ["mass-payout", *args])
        raise RuntimeError("the launcher did not fork the child process")

    def collect(self) -> None:
        """Record the exit statuses the launcher has reported so far."""
        if self.closed:
            return
        for _ in self._read(wait=0):
            pass

    def _read(self, wait: float) -> list[dict[str, int]]:
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
        return messages

    def alive(self) -> bool:
        with contextlib.suppress(ChildProcessError):
            return os.waitpid(self.pid, os.WNOHANG) == (0, 0)
        return False

    def close(self, timeout: float = 5) -> None:
        """No more children: the launcher exits once those it started have exited (they
        have, when `Children.stop_all` calls this)."""
        if self.closed:
            return
        self.closed = True
        os.close(self._requests)
        deadline = time.monotonic() + timeout
        while self.alive():
            if time.monotonic() > deadline:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.pid, signal.SIGKILL)
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(self.pid, 0)
                break
            time.sleep(0.01)
        os.close(self._replies)


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


def _serve(requests: int, replies: int, main: Callable[[], object],
           preload: Callable[[], object]) -> None:
    # Ctrl-C reaches the whole foreground group: the demo stops the children itself, and the
    # launcher must outlive them to report how they ended.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    preload()
    gc.freeze()  # the imported objects stay shared with the children (no copy on write)
    buffer, children, accepting = b"", set[int](), True
    while accepting or children:
        readable = select.select([requests] if accepting else [], [], [], 0.05)[0]
        if readable:
            chunk = os.read(requests, 65536)
            if not chunk:  # the demo closed the pipe (or died)
                accepting = False
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                pid = _fork(json.loads(line), (requests, replies), main)
                children.add(pid)
                os.write(replies, json.dumps({"pid": pid}).encode() + b"\n")
        elif not accepting:
            time.sleep(0.05)
        while children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                children.clear()
                break
            if pid == 0:
                break
            children.discard(pid)
            code = os.waitstatus_to_exitcode(status)
            with contextlib.suppress(OSError):  # the demo may be gone
                os.write(replies, json.dumps({"exited": pid, "code": code}).encode() + b"\n")


def _fork(request: dict[str, object], pipes: tuple[int, int], main: Callable[[], object]) -> int:
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        for fd in pipes:
            os.close(fd)
        os.setsid()  # its own process group, as `Children.spawn` gives a subprocess
        log = request.get("log")
        out = os.open(str(log) if log else os.devnull, os.O_WRONLY | os.O_CREAT | os.O_APPEND,
                      0o644)
        os.dup2(out, 1)
        os.dup2(out, 2)
        os.close(out)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        env = request["env"]
        assert isinstance(env, dict)
        become(env)
        args = request["args"]
        assert isinstance(args, list)
        sys.argv = ["mass-payout", *args]
        code = _run(main)
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _run(main: Callable[[], object]) -> int:
    """The child's `mass-payout` command, as the console script runs it."""
    import logging

    try:
        main()
    except SystemExit as done:
        code = done.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except BaseException:  # noqa: BLE001  # as the interpreter would: shown, exit code 1
        import traceback

        traceback.print_exc()
        return 1
    finally:
        logging.shutdown()
    return 0
