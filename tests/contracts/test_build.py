"""The committed artifacts are what the pinned compiler makes of contracts/src today."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_committed_artifacts_are_not_stale():
    # Recompile with the npm-pinned solcjs and compare byte for byte with chain/artifacts.
    proc = subprocess.run([sys.executable, str(ROOT / "contracts" / "build.py"), "--check"],
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr


def test_the_compiler_is_pinned_and_the_artifacts_record_it():
    # package.json pins an exact solc, the lock file agrees, and each artifact names it.
    package = json.loads((ROOT / "contracts" / "package.json").read_text())
    lock = json.loads((ROOT / "contracts" / "package-lock.json").read_text())
    pinned = package["devDependencies"]["solc"]
    assert pinned[0].isdigit()
    assert lock["packages"]["node_modules/solc"]["version"] == pinned
    artifact = json.loads((ROOT / "chain" / "artifacts" / "PayoutVault.json").read_text())
    assert artifact["compiler"]["solc"].startswith(pinned + "+")
    assert artifact["compiler"]["evmVersion"] == "cancun"
