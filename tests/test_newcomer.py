"""A newcomer's first ten minutes (#20): every refusal is one line and exit code 2, never a
traceback, and the demo's summary is honest about an edge-case run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from devtools.demo import figure
from devtools.pipeline import blocked_indices, check_sizes
from mass_payout import schedule_cli

ENGINES = ("DATABASE_URL", "REDIS_URL", "RPC_URL", "MASS_PAYOUT_PRIVATE_KEY",
           "MASS_PAYOUT_KEYSTORE", "MASS_PAYOUT_SECRETS_DIR")


def mass_payout(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
                timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """The console script's `main` (which turns a ConfigurationError into one line), as a
    newcomer's shell runs it: without any engine variable unless `env` gives one."""
    base = {k: v for k, v in os.environ.items() if k not in ENGINES}
    base["MASS_PAYOUT_SECRETS_DIR"] = "/nonexistent"  # never this machine's /run/secrets
    return subprocess.run([sys.executable, "-c", "from mass_payout.cli import main; main()",
                           *args], env={**base, **(env or {})}, cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, check=False)


def one_line_refusal(done: subprocess.CompletedProcess[str], *words: str) -> None:
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr + done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("mass-payout: ")
    for word in words:
        assert word in lines[0]


@pytest.mark.parametrize(("args", "words"), [
    (["--holders", "0"], ["--holders", "at least 1"]),
    (["--holders", "5", "--blocked", "10"], ["--blocked", "between 0 and --holders (5)"]),
    (["--holders", "5", "--blocked", "-1"], ["--blocked"]),
    (["--workers", "0"], ["--workers"]),
    (["--rail", "lightning"], ["--rail", "vault or hts"]),
    (["--rail", "hts", "--scenario", "bond"], ["--rail hts", "dividend"]),
])
def test_the_demo_refuses_sizes_it_cannot_run_in_one_line(tmp_path, args, words):
    done = mass_payout("demo", *args, env={"MASS_PAYOUT_VAR": str(tmp_path)})
    one_line_refusal(done, *words)
    assert not list(tmp_path.iterdir())  # refused before any engine started


def test_the_blocked_holders_are_distinct_even_when_997_divides_the_holders():
    assert sorted(blocked_indices(997, 5)) == [13, 14, 15, 16, 17]
    assert len(set(blocked_indices(2_000, 2_000))) == 2_000
    assert blocked_indices(5, 0) == []
    with pytest.raises(ValueError, match="--blocked"):
        check_sizes(holders=5, blocked=6)


@pytest.mark.parametrize("command", ["worker", "ingest", "supervise", "scheduler"])
def test_a_process_without_its_variables_says_so_in_one_line(command):
    one_line_refusal(mass_payout(command), "DATABASE_URL", "REDIS_URL", "RPC_URL")


def test_an_invalid_setting_is_one_line_naming_the_variable():
    done = mass_payout("worker", env={"MASS_PAYOUT_MAX_ATTEMPTS": "zero"})
    one_line_refusal(done, "MASS_PAYOUT_MAX_ATTEMPTS")


def test_keys_are_never_stored_where_serve_cannot_read_them(tmp_path):
    """Without DATABASE_URL, `keys create` used to start the embedded PostgreSQL and store
    the key there; `serve` refuses to run on it. Now: refused, and nothing started."""
    done = mass_payout("keys", "create", "--principal", "alice", "--role", "viewer",
                       env={"MASS_PAYOUT_VAR": str(tmp_path)})
    one_line_refusal(done, "DATABASE_URL", "serve")
    assert not list(tmp_path.iterdir())
    one_line_refusal(mass_payout("keys", "list", env={"MASS_PAYOUT_VAR": str(tmp_path)}),
                     "DATABASE_URL")
    serve = mass_payout("serve", env={"MASS_PAYOUT_VAR": str(tmp_path)})
    one_line_refusal(serve, "DATABASE_URL")


def test_help_names_every_benchmark_and_the_json_option():
    for command, words in (("bench", ["ledger", "e2e", "chaos", "panel", "JSON"]),
                           ("demo", ["JSON", "treasury"]), ("smoke", ["JSON"])):
        done = mass_payout(command, "--help", env={"COLUMNS": "200"})
        assert done.returncode == 0, done.stderr
        for word in words:
            assert word in done.stdout, (command, word)


@pytest.mark.parametrize(("args", "word"), [
    (("bench", "gas", "--unassociated", "5"), "hts only"),
    (("bench", "hts", "--unassociated", "150"), "unassociated"),
])
def test_a_bench_option_out_of_place_or_range_is_one_line(args, word):
    done = mass_payout(*args)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr + done.stdout and word in done.stderr


def test_an_empty_schedule_list_says_so(monkeypatch, database_url, schema):
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("MASS_PAYOUT_SCHEMA", schema)
    app = typer.Typer()
    schedule_cli.register(app)
    listed = CliRunner().invoke(app, ["schedules", "list"])
    assert listed.exit_code == 0, listed.output
    assert listed.stdout.startswith("no schedules")


def test_the_summary_shows_amounts_in_usd_and_no_figure_for_nothing():
    assert figure("net", 112_500_000) == "112.500000"
    assert figure("gas_per_holder", None) == "-"
    assert figure("holders", 2_001) == "2,001"


@pytest.mark.anvil
def test_a_demo_where_every_holder_is_blocked_reconciles_with_nothing_paid(tmp_path):
    """`--blocked` = `--holders`: every payment fails on the blocklist, and the vault and the
    ledger agree on zero paid: RECONCILED, exit 0, no gas per holder."""
    done = mass_payout("demo", "--holders", "3", "--blocked", "3", "--workers", "1", "--json",
                       env={"MASS_PAYOUT_VAR": str(tmp_path)}, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert (summary["holders"], summary["paid"], summary["failed"]) == (4, 0, 3)
    assert summary["skipped"] == 1  # the issuer's treasury, excluded from the dividend
    assert summary["gas_per_holder"] is None
    assert summary["reconciled"] is True
    # The auditor's tools on the demo's data: conservation holds, every read model rebuilds
    # to the same rows (the demo's embedded PostgreSQL, left in its var directory).
    audit_env = {"MASS_PAYOUT_VAR": str(tmp_path), "MASS_PAYOUT_SCHEMA": "mass_payout_demo"}
    verified = mass_payout("audit", "verify", "--json", env=audit_env, timeout=120)
    assert verified.returncode == 0, verified.stdout[-3000:] + verified.stderr[-3000:]
    replayed = mass_payout("audit", "replay", env=audit_env, timeout=120)
    assert replayed.returncode == 0 and "IDENTICAL" in replayed.stdout, replayed.stdout[-3000:]


def _session_processes(sid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getsid(int(entry.name)) == sid:
                    found.append(int(entry.name))
            except (ProcessLookupError, PermissionError):
                continue
    return found


@pytest.mark.anvil
def test_ctrl_c_ends_demo_serve_cleanly_even_when_it_arrives_twice(tmp_path):
    """`demo --serve` says it serves "until Ctrl-C": that Ctrl-C is how it ends, not an
    error, and it often arrives twice (`uv run` passes on the one it got as well)."""
    from devtools.devchain import free_port

    base = {k: v for k, v in os.environ.items() if k not in ENGINES}
    base.update(MASS_PAYOUT_SECRETS_DIR="/nonexistent", MASS_PAYOUT_VAR=str(tmp_path))
    demo = subprocess.Popen(
        [sys.executable, "-c", "from mass_payout.cli import main; main()", "demo",
         "--holders", "5", "--workers", "1", "--serve", "--port", str(free_port())],
        env=base, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True)
    seen: list[str] = []
    try:
        assert demo.stdout is not None
        for line in demo.stdout:  # until the panel serves (the demo ran before it)
            seen.append(line)
            if "serving the panel until Ctrl-C" in line:
                break
        else:
            pytest.fail("".join(seen[-40:]))
        # Ctrl-C at the terminal: SIGINT to the whole process group, twice at once
        os.killpg(demo.pid, signal.SIGINT)
        os.killpg(demo.pid, signal.SIGINT)
        rest, _ = demo.communicate(timeout=90)
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
    out = "".join(seen) + rest
    assert demo.returncode == 0, out[-3000:]
    assert "interrupted" not in out and "Traceback" not in out
    assert "stopping the panel and every process the demo started" in out
    assert _session_processes(demo.pid) == []  # the panel, workers, engines: all gone
