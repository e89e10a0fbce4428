"""The launcher process (devtools.launcher forks it from the demo) and each child it forks.

The launcher imports the children's modules once (`preload`), then serves the demo's
requests on a pipe: for each, it forks a child that becomes the `mass-payout` command asked
for (its own session, environment, log and `sys.argv`) and runs `main`, the console script's.
It reaps them and reports each exit status on the reply pipe, and exits once the demo has
closed the request pipe and the last child has exited. If it fails (its preload raised), it
says why on the same pipe before exiting, for the demo to raise rather than wait.

Forked, every process would show the demo's command line in `ps`; each sets its title
(setproctitle) to what it is: `mass-payout launcher`, `mass-payout worker`, ...
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import select
import signal
import sys
import time
from collections.abc import Callable
from typing import NoReturn

from setproctitle import setproctitle

from runtime.settings import become

TITLE = "mass-payout launcher"  # in `ps`; each child's is `mass-payout <its arguments>`


def run(requests: int, replies: int, main: Callable[[], object],
        preload: Callable[[], object]) -> NoReturn:
    """The launcher, until its work is done: it never returns into the demo's code."""
    code = 0
    try:
        _serve(requests, replies, main, preload)
    except BaseException as err:  # noqa: BLE001  # reported, then the launcher exits
        code = 1
        _report(replies, err)
    os._exit(code)


def _serve(requests: int, replies: int, main: Callable[[], object],
           preload: Callable[[], object]) -> None:
    # Ctrl-C reaches the whole foreground group: the demo stops the children itself, and the
    # launcher must outlive them to report how they ended.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    setproctitle(TITLE)
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


def _report(replies: int, err: BaseException) -> None:
    """Why the launcher stops: its traceback on stderr (the demo's terminal), and one line on
    the pipe for the demo's next `spawn` to raise."""
    import traceback

    traceback.print_exception(err)
    with contextlib.suppress(Exception):
        sys.stderr.flush()
    reason = f"{type(err).__name__}: {err}"
    with contextlib.suppress(OSError):  # the demo may be gone
        os.write(replies, json.dumps({"failed": reason}).encode() + b"\n")


def _fork(request: dict[str, object], pipes: tuple[int, int], main: Callable[[], object]) -> int:
    """The child's pid, once it leads its own process group with its signals as a new
    process's: a `killpg` (`Children.stop_all`) right after `spawn` reaches it."""
    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid:
        os.close(ready_w)
        os.read(ready_r, 1)  # end of file: the child closed it (or died)
        os.close(ready_r)
        return pid
    code = 1
    try:
        for fd in (*pipes, ready_r):
            os.close(fd)
        os.setsid()  # its own process group, as `Children.spawn` gives a subprocess
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.close(ready_w)
        args = request["args"]
        assert isinstance(args, list)
        setproctitle(" ".join(["mass-payout", *args]))  # in `ps`, what a new one would show
        log = request.get("log")
        out = os.open(str(log) if log else os.devnull, os.O_WRONLY | os.O_CREAT | os.O_APPEND,
                      0o644)
        os.dup2(out, 1)
        os.dup2(out, 2)
        os.close(out)
        # Its output is its log, whatever the launcher's parent had made of sys.stdout (a
        # test's capture): as a new interpreter's would be.
        sys.stdout = open(1, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", buffering=1, encoding="utf-8",  # noqa: SIM115
                          errors="backslashreplace", closefd=False)
        env = request["env"]
        assert isinstance(env, dict)
        become(env)
        sys.argv = ["mass-payout", *args]
        code = _run(main)
    except BaseException:  # noqa: BLE001  # its start failed: shown (in its log if open)
        import traceback

        traceback.print_exc()
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
