"""Compile contracts/src with the npm-pinned solcjs and write one artifact per contract.

Why not py-solc-x: it downloads compilers from GitHub. solcjs comes from the npm registry with
the rest of the toolchain (`npm ci --prefix contracts`), pinned by package-lock.json.

Output is deterministic (sorted keys, no metadata hash in the bytecode), so the staleness test
can recompile and compare byte for byte: `python contracts/build.py --check`.

Storage layouts go to `chain/artifacts/layouts/<Name>.json` (a second, analysis-only solc
run), for the upgrade check (app.vault_ops): solc's `storageLayout` lists only state
variables, and the vault keeps its state in ERC-7201 namespaced structs, so a probe contract
declares one variable of each namespaced struct of the contract and its bases, and the struct's
members are read from the probe's layout (as OpenZeppelin's upgrades plugin does). Types are
recorded by their labels (no AST ids), so an unrelated source change leaves layouts equal.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

CONTRACTS = Path(__file__).resolve().parent
ROOT = CONTRACTS.parent
ARTIFACTS = ROOT / "chain" / "artifacts"
LAYOUTS = ARTIFACTS / "layouts"
NAMESPACE = re.compile(r"@custom:storage-location\s+(erc7201:\S+)")
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


def _solc(std: dict[str, Any]) -> dict[str, Any]:
    """solcjs on a standard-JSON input: {version, output}; RuntimeError on compile errors."""
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("node is not on PATH: the Solidity compiler (npm solc) runs on it")
    proc = subprocess.run(  # noqa: S603 - fixed argv, our own script
        [node, "-e", _COMPILE_JS, json.dumps([str(CONTRACTS), str(NODE_MODULES)])],
        input=json.dumps(std), capture_output=True, text=True, check=True, cwd=CONTRACTS,
    )
    result: dict[str, Any] = json.loads(proc.stdout)
    errors = [e for e in result["output"].get("errors", []) if e["severity"] == "error"]
    if errors:
        raise RuntimeError("\n".join(e["formattedMessage"] for e in errors))
    return result


def compile_all() -> dict[str, dict[str, Any]]:
    """Returns artifact name -> artifact; raises RuntimeError with solc's messages on errors."""
    result = _solc(standard_input())
    out = result["output"]
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


def _walk(node: Any) -> Any:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _analysis(std: dict[str, Any], selection: list[str]) -> dict[str, Any]:
    """solc without code generation: the AST and storage layouts only."""
    settings = {k: v for k, v in std["settings"].items() if k not in {"optimizer", "viaIR"}}
    settings["outputSelection"] = {"*": {"*": selection, "": ["ast"]}}
    output: dict[str, Any] = _solc({**std, "settings": settings})["output"]
    return output


def _canonical(slots: dict[str, Any], types: dict[str, Any],
               structs: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """A layout's members by label/slot/offset/type label, collecting every struct type they
    reach (mapping values and array elements too) into `structs`."""
    def reach(type_id: str) -> None:
        t = types[type_id]
        for key in ("key", "value", "base"):
            if key in t:
                reach(t[key])
        if "members" in t and t["label"] not in structs:
            structs[t["label"]] = []
            structs[t["label"]] = _canonical(t["members"], types, structs)  # type: ignore[arg-type]

    members = []
    for item in slots:
        reach(item["type"])
        members.append({"label": item["label"], "slot": int(item["slot"]),
                        "offset": int(item["offset"]), "type": types[item["type"]]["label"]})
    return members


def _namespaced(node: dict[str, Any], contracts: dict[int, dict[str, Any]],
                where: dict[int, str]) -> tuple[str, dict[str, str]]:
    """A probe contract declaring one variable per namespaced struct of `node` and its bases,
    and which ERC-7201 namespace each variable stands for."""
    imports: list[str] = []
    variables: list[str] = []
    found: dict[str, str] = {}
    for base_id in node["linearizedBaseContracts"]:
        base = contracts[base_id]
        for struct in base["nodes"]:
            if struct.get("nodeType") != "StructDefinition":
                continue
            match = NAMESPACE.search((struct.get("documentation") or {}).get("text", ""))
            if not match:
                continue
            alias = f"B{base_id}"
            line = f"import {{{base['name']} as {alias}}} from \"{where[base_id]}\";"
            if line not in imports:
                imports.append(line)
            var = f"v{len(found)}"
            variables.append(f"    {alias}.{struct['name']} internal {var};")
            found[var] = match.group(1)
    probe = "\n".join(["pragma solidity ^0.8.0;", *imports,
                       f"contract LayoutProbe_{node['name']} {{", *variables, "}"])
    return probe, found


def layouts(artifacts: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Contract name -> {"storage": its state variables, "namespaces": {erc7201 id: members},
    "structs": {struct label: members}} for every artifact with any storage."""
    std = standard_input()
    contracts: dict[int, dict[str, Any]] = {}
    where: dict[int, str] = {}
    for source, unit in _analysis(std, [])["sources"].items():
        for node in _walk(unit["ast"]):
            if node.get("nodeType") == "ContractDefinition":
                contracts[node["id"]] = node
                where[node["id"]] = source
    spaces: dict[str, dict[str, str]] = {}  # artifact -> probe variable -> namespace id
    for name, artifact in artifacts.items():
        node = next(c for c in contracts.values()
                    if c["name"] == name and where[c["id"]] == artifact["sourceName"])
        probe, found = _namespaced(node, contracts, where)
        if found:
            std["sources"][f"probes/{name}.sol"] = {"content": probe}
            spaces[name] = found
    out = _analysis(std, ["storageLayout"])["contracts"]
    result: dict[str, dict[str, Any]] = {}
    for name, artifact in artifacts.items():
        own = out[artifact["sourceName"]][name]["storageLayout"]
        structs: dict[str, list[dict[str, Any]]] = {}
        entry: dict[str, Any] = {
            "storage": _canonical(own["storage"], own.get("types") or {}, structs),
            "namespaces": {}}
        probe_layout = out[f"probes/{name}.sol"][f"LayoutProbe_{name}"]["storageLayout"] \
            if name in spaces else {"storage": []}
        for var in probe_layout["storage"]:
            t = probe_layout["types"][var["type"]]
            entry["namespaces"][spaces[name][var["label"]]] = {
                "struct": t["label"].removeprefix("struct "),
                "members": _canonical(t["members"], probe_layout["types"], structs)}
        entry["structs"] = structs
        if entry["storage"] or entry["namespaces"]:
            result[name] = entry
    return result


def render(artifact: dict[str, Any]) -> str:
    return json.dumps(artifact, indent=1, sort_keys=True) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true",
                        help="fail if committed artifacts are stale")
    args = parser.parse_args()
    artifacts = compile_all()
    wanted = {f"{name}.json": render(a) for name, a in artifacts.items()}
    wanted.update({f"layouts/{name}.json": render(layout)
                   for name, layout in layouts(artifacts).items()})
    present = ({p.relative_to(ARTIFACTS).as_posix(): p.read_text()
                for p in [*ARTIFACTS.glob("*.json"), *LAYOUTS.glob("*.json")]}
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
    LAYOUTS.mkdir(parents=True, exist_ok=True)
    for name in present.keys() - wanted.keys():
        (ARTIFACTS / name).unlink()
    for name, text in wanted.items():
        (ARTIFACTS / name).write_text(text)
    print(f"wrote {len(wanted)} artifacts to {ARTIFACTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
