"""Settings: every variable validated once; a bad one is one line naming it, never its value;
secrets can come from files; and only the settings module reads the environment."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from runtime.settings import ConfigurationError, Settings

ROOT = Path(__file__).resolve().parents[1]
CLI = str(Path(sys.executable).parent / "mass-payout")


def test_defaults_and_empty_variables_mean_unset():
    s = Settings.from_env({"RPC_URL": "", "CHAIN_ID": " ", "MASS_PAYOUT_PRIVATE_KEY": ""})
    assert (s.database_url, s.rpc_url, s.chain_id, s.private_key) == (None, None, None, None)
    assert (s.schema, s.max_attempts) == ("mass_payout", 3)
    assert s.var_dir.is_absolute()


@pytest.mark.parametrize(("environ", "named"), [
    ({"MASS_PAYOUT_MAX_ATTEMPTS": "three"}, "MASS_PAYOUT_MAX_ATTEMPTS"),
    ({"MASS_PAYOUT_MAX_ATTEMPTS": "0"}, "MASS_PAYOUT_MAX_ATTEMPTS"),
    ({"CHAIN_ID": "0x7a69"}, "CHAIN_ID"),
    ({"MASS_PAYOUT_SCHEMA": 'x"; DROP SCHEMA public; --'}, "MASS_PAYOUT_SCHEMA"),
    ({"HEDERA_NODES": "node.example:50211"}, "HEDERA_NODES"),  # no node account
    ({"HEDERA_ACCOUNT_ID": "alice"}, "HEDERA_ACCOUNT_ID"),
    ({"HEDERA_MIRROR_NODE_URL": "mirror.example"}, "HEDERA_MIRROR_NODE_URL"),
])
def test_a_bad_value_is_one_line_naming_the_variable(environ, named):
    with pytest.raises(ConfigurationError) as refused:
        Settings.from_env(environ)
    message = str(refused.value)
    assert named in message and "\n" not in message
    assert next(iter(environ.values())) not in message  # the value may be a secret


def test_the_hts_rail_is_configured_only_when_every_hedera_setting_is_there():
    nodes = {"HEDERA_NODES": "10.0.0.1:50211=0.0.3, 10.0.0.2:50211=0.0.4",
             "HEDERA_ACCOUNT_ID": "0.0.1001", "HEDERA_MIRROR_NODE_URL": "https://mirror.example"}
    partial = Settings.from_env(nodes)
    assert partial.hedera_nodes == (("10.0.0.1:50211", "0.0.3"), ("10.0.0.2:50211", "0.0.4"))
    assert not partial.hts_configured()  # no key: this process does not pay on Hedera
    full = Settings.from_env({**nodes, "MASS_PAYOUT_HEDERA_PRIVATE_KEY": "302e" + "00" * 46})
    assert full.hts_configured() and "302e" not in repr(full)  # a secret, never shown


def test_secrets_come_from_files(tmp_path):
    (tmp_path / "MASS_PAYOUT_PRIVATE_KEY").write_text("0x" + "11" * 32)
    s = Settings.from_env({"MASS_PAYOUT_SECRETS_DIR": str(tmp_path)})
    assert s.signing_environ() == {"MASS_PAYOUT_PRIVATE_KEY": "0x" + "11" * 32}
    assert "11" * 32 not in repr(s)  # never printed
    # The environment wins over the file.
    env = {"MASS_PAYOUT_SECRETS_DIR": str(tmp_path), "MASS_PAYOUT_PRIVATE_KEY": "0x" + "22" * 32}
    assert Settings.from_env(env).signing_environ()["MASS_PAYOUT_PRIVATE_KEY"].endswith("22")


@pytest.mark.parametrize("command", [["worker"], ["ingest", "--once"], ["supervise", "--once"]])
def test_a_process_without_its_engines_says_so_in_one_line(command):
    env = {"PATH": "/usr/bin:/bin", "MASS_PAYOUT_VAR": "/nonexistent"}
    done = subprocess.run([CLI, *command], env=env, capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0, done.stderr
    assert "DATABASE_URL" in done.stderr and "Traceback" not in done.stderr


def test_a_bad_setting_at_the_cli_is_one_line():
    env = {"PATH": "/usr/bin:/bin", "MASS_PAYOUT_MAX_ATTEMPTS": "many"}
    done = subprocess.run([CLI, "worker"], env=env, capture_output=True, text=True,
                          timeout=60, check=False)
    assert (done.returncode, done.stderr.count("\n")) == (2, 1), done.stderr
    assert "MASS_PAYOUT_MAX_ATTEMPTS" in done.stderr


def test_only_the_settings_module_reads_the_environment():
    readers = []
    for path in ROOT.glob("*/**/*.py"):
        relative = path.relative_to(ROOT)
        if relative.parts[0] in {"tests", ".venv", ".tools", "contracts", "var"}:
            continue
        if re.search(r"os\.environ|os\.getenv|getenv\(", path.read_text()):
            readers.append(str(relative))
    assert readers == ["runtime/settings.py"]
