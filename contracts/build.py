"""Compile contracts/src with the npm-pinned solcjs and write one artifact per contract.

Why not py-solc-x: it downloads compilers from GitHub. solcjs comes from the npm registry with
the rest of the toolchain (`npm ci --prefix contracts`), pinned by package-lock.json.

Output is deterministic (sorted keys, no metadata hash in the bytecode), so the staleness test
can recompile and compare byte for byte: `python contracts/build.py --check`.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

CONTRACTS = Path(__file__).resolve().parent
ROOT = CONTRACTS.parent
ARTIFACTS = ROOT / "chain" / "artifacts"
NODE_MODULES = CONTRACTS / "node_modules"
EVM_VERSION = "cancun"  # Hedera's EVM; py-evm and anvil are pinned to it in chain/devchain.py
OPTIMIZER_RUNS = 10_000
EXTRA = {"ERC1967Proxy": "@openzeppelin/contracts/proxy/ERC1967/ERC1967Proxy.sol"}

_COMPILE_JS = r"""
const fs = require('fs');
const path = require('path');
const solc = require('solc');
const input = fs.readFileSync(0, 'utf8');
const roots = JSON.parse(process.argv[1]);
function findImports(p) {
  for (const r of roots) {
    const f = path.join(r, p);
    if (fs.existsSync(f)) return { contents: fs.readFileSync(f, 'utf8') };
  }
  return { error: 'not found: ' + p };
}
process.stdout.write(JSON.stringify({
  version: solc.version(),
  output: JSON.parse(solc.compile(input, { import: findImports })),
}));
"""


def standard_input() -> dict[str, Any]:
    sources = {
        p.relative_to(CONTRACTS).as_posix(): {"content": p.read_text()}
        for p in sorted((CONTRACTS / "src").rglob("*.sol"))
    }
    return {
        "language": "Solidity",
        "sources": sources,
        "settings": {
            "evmVersion": EVM_VERSION,
            "optimizer": {"enabled": True, "runs": OPTIMIZER_RUNS},
            "viaIR": True,
            "metadata": {"bytecodeHash": "none", "appendCBOR": False},
            "outputSelection": {
                "*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"]}
            },
        },
    }


def compile_all() -> dict[str, dict[str, Any]]:
    """Returns artifact name -> artifact; raises RuntimeError with solc's messages on errors."""
    std = standard_input()
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("node is not on PATH: the Solidity compiler (npm solc) runs on it")
    proc = subprocess.run(  # noqa: S603 - fixed argv, our own script
        [node, "-e", _COMPILE_JS, json.dumps([str(CONTRACTS), str(NODE_MODULES)])],
        input=json.dumps(std), capture_output=True, text=True, check=True, cwd=CONTRACTS,
    )
    result = json.loads(proc.stdout)
    out = result["output"]
    errors = [e for e in out.get("errors", []) if e["severity"] == "error"]
    if errors:
        raise RuntimeError("\n".join(e["formattedMessage"] for e in errors))
    version = result["version"]
    artifacts: dict[str, dict[str, Any]] = {}
    for source, contracts in out["contracts"].items():
        for name, c in contracts.items():
            from_src = source.startswith("src/")
            if not (from_src or EXTRA.get(name) == source) or not c["evm"]["bytecode"]["object"]:
                continue  # interfaces, abstract contracts, libraries we do not deploy
            artifacts[name] = {
                "contractName": name,
                "sourceName": source,
                "compiler": {"solc": version, "evmVersion": EVM_VERSION,
                             "optimizerRuns": OPTIMIZER_RUNS},
                "abi": c["abi"],
                "bytecode": "0x" + c["evm"]["bytecode"]["object"],
                "deployedBytecode": "0x" + c["evm"]["deployedBytecode"]["object"],
            }
    return artifacts


def render(artifact: dict[str, Any]) -> str:
    return json.dumps(artifact, indent=1, sort_keys=True) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true",
                        help="fail if committed artifacts are stale")
    args = parser.parse_args()
    artifacts = compile_all()
    wanted = {f"{name}.json": render(a) for name, a in artifacts.items()}
    present = ({p.name: p.read_text() for p in ARTIFACTS.glob("*.json")}
               if ARTIFACTS.exists() else {})
    if args.check:
        names = wanted.keys() | present.keys()
        stale = sorted(n for n in names if wanted.get(n) != present.get(n))
        if stale:
            print("stale artifacts (run: uv run python contracts/build.py):", *stale,
                  file=sys.stderr)
            return 1
        print(f"{len(wanted)} artifacts up to date")
        return 0
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for name in present.keys() - wanted.keys():
        (ARTIFACTS / name).unlink()
    for name, text in wanted.items():
        (ARTIFACTS / name).write_text(text)
    print(f"wrote {len(wanted)} artifacts to {ARTIFACTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
