"""Child processes (workers, ingestor, supervisor) started by the demo, benchmarks and tests.

Each child gets its own process group so that stopping it also stops anything it started;
`stop_all` runs on every exit path, Ctrl-C included. Peak memory of every child is sampled.
With a `launcher` (the demo's), children are forked from it rather than started as new
interpreters (devtools.launcher); everything else is the same.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import psutil

from devtools.launcher import Launcher

CLI = str(Path(sys.executable).parent / "mass-payout")


class Child(Protocol):
    """What is used of a child: `subprocess.Popen`, or a launcher's `Forked`."""

    @property
    def pid(self) -> int: ...
    @property
    def args(self) -> Any: ...
    @property
    def returncode(self) -> int | None: ...
    def poll(self) -> int | None: ...
    def wait(self, timeout: float | None = None) -> int: ...


@dataclass
class Children:
    env: dict[str, str]
    processes: dict[str, Child] = field(default_factory=dict)
    peak_rss_mb: dict[str, float] = field(default_factory=dict)
    launcher: Launcher | None = None
    logs: dict[str, Path | None] = field(default_factory=dict)  # where each one writes

    def spawn(self, name: str, *args: str, failpoint: str | None = None,
              log: Path | None = None) -> Child:
        env = dict(self.env)
        if failpoint:
            env["MASS_PAYOUT_FAILPOINT"] = failpoint
        self.logs[name] = log
        if self.launcher is not None:
            self.processes[name] = self.launcher.spawn(list(args), env, log)
            return self.processes[name]
        # Never an undrained pipe: a chatty child would block once its buffer filled.
        out = log.open("ab") if log else subprocess.DEVNULL
        proc = subprocess.Popen([CLI, *args], env=env, start_new_session=True,
                                stdout=out, stderr=subprocess.STDOUT)
        self.processes[name] = proc
        return proc

    def stopped(self) -> str:
        """Those that have exited, each with its log ("" while all run): what an error says,
        so that the reader opens the right file of the right run."""
        return ", ".join(f"{name} (see {self.logs[name]})" if self.logs.get(name) else name
                         for name, proc in self.processes.items() if proc.poll() is not None)

    def sample_memory(self) -> None:
        for name, proc in self.processes.items():
            with contextlib.suppress(psutil.Error):
                rss = psutil.Process(proc.pid).memory_info().rss / 2**20
                self.peak_rss_mb[name] = max(self.peak_rss_mb.get(name, 0.0), round(rss, 1))

    def stop_all(self, timeout: float = 10) -> None:
        """SIGTERM each group, then SIGKILL whatever is still running after `timeout`."""
        for proc in self.processes.values():
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.processes.values():
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=timeout)
        if self.launcher is not None:
            self.launcher.close()
