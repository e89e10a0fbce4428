"""The chain adapters' one error root, `ChainError`, and reverts decoded from their return data
into ContractRevertError (custom error name + args).

Every exception the chain package defines derives from `ChainError`, so a caller can tell "the
chain adapter refused or failed" from a bug in one clause. Handlers still catch the specific
class they mean (`TransientChainError` to retry, `TokenReadError` to answer 422): a broad
`except ChainError` would also catch a revert or a bad signing key, which no retry repairs.

The selector table is built from every committed artifact's ABI, so an error raised by the vault,
a token, or an OpenZeppelin base contract (AccessControl, Pausable, ReentrancyGuard, ERC1967)
decodes by name.
"""

from __future__ import annotations

import ast
import json
import sys
from functools import cache
from pathlib import Path
from typing import Any

from eth_abi.abi import decode
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from web3.exceptions import ContractCustomError, ContractLogicError, ContractPanicError

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"

_REVERTS: tuple[type[Exception], ...] = (ContractLogicError, ContractCustomError,
                                         ContractPanicError)


def reverts() -> tuple[type[Exception], ...]:
    """What a reverted call or transaction raises: web3's errors, and eth-tester's own (an
    in-process chain, tests only, raises it with the return data inside) once eth-tester is in
    use. Looked up when an exception is matched (`except reverts():`), not imported here:
    importing eth-tester costs every process 1.7 s, and production has none."""
    tester = sys.modules.get("eth_tester.exceptions")
    return _REVERTS if tester is None else (*_REVERTS, tester.TransactionFailed)


class ChainError(Exception):
    """Base of every chain adapter error (RPC, signing, reverts, token reads, announce...)."""


class ContractRevertError(ChainError):
    """A revert decoded from its return data: `name` is the custom error (or Error/Panic)."""

    def __init__(self, name: str, args: tuple[Any, ...], data: bytes) -> None:
        super().__init__(f"{name}{args!r}")
        self.name = name
        self.values = args
        self.data = data


@cache
def _error_table() -> dict[bytes, tuple[str, list[str]]]:
    table: dict[bytes, tuple[str, list[str]]] = {
        bytes.fromhex("08c379a0"): ("Error", ["string"]),
        bytes.fromhex("4e487b71"): ("Panic", ["uint256"]),
    }
    for path in sorted(ARTIFACTS.glob("*.json")):
        for item in json.loads(path.read_text())["abi"]:
            if item["type"] == "error":
                types = [_abi_type(i) for i in item["inputs"]]
                table[keccak(text=f"{item['name']}({','.join(types)})")[:4]] = (item["name"], types)
    return table


def _abi_type(param: dict[str, Any]) -> str:
    kind: str = param["type"]
    if kind.startswith("tuple"):
        return "(" + ",".join(_abi_type(c) for c in param["components"]) + ")" + kind[5:]
    return kind


def decode_revert(data: bytes | str) -> ContractRevertError:
    raw = bytes.fromhex(data[2:] if data.startswith("0x") else data) if isinstance(data, str) \
        else bytes(data)
    name, types = _error_table().get(raw[:4], ("UnknownError", []))
    if name == "UnknownError":
        return ContractRevertError(name, (raw.hex(),), raw)
    values = tuple(_checksummed(t, v) for t, v in zip(types, decode(types, raw[4:]), strict=True))
    return ContractRevertError(name, values, raw)


def _checksummed(kind: str, value: Any) -> Any:
    """Addresses as web3 returns them elsewhere (checksummed), so they compare equal."""
    if kind == "address":
        return to_checksum_address(value)
    if kind == "address[]":
        return [to_checksum_address(v) for v in value]
    return value


def _revert_data(err: BaseException | None) -> bytes | str | None:
    """Return data from web3's errors (`.data`) or, in process, from eth-tester's (`.args[0]`)."""
    while err is not None:
        data = getattr(err, "data", None)
        if isinstance(data, bytes | str) and len(data) >= 4:
            return data
        first = err.args[0] if err.args else None
        if isinstance(first, bytes):
            return first
        if isinstance(first, BaseException):  # eth-tester sometimes wraps the EVM's error
            err = first
            continue
        if isinstance(first, str) and (literal := _bytes_literal(first)):
            return literal  # eth-tester's eth_call path stringifies the return data
        err = err.__cause__ or err.__context__
    return None


def _bytes_literal(text: str) -> bytes | None:
    start = text.find("b'") if "b'" in text else text.find('b"')
    if start < 0:
        return None
    try:
        value = ast.literal_eval(text[start:])
    except (ValueError, SyntaxError):
        return None
    return value if isinstance(value, bytes) and len(value) >= 4 else None


def translate(err: Exception) -> Exception:
    """A web3 revert as ContractRevertError when its return data is available, else `err` itself."""
    data = _revert_data(err)
    return decode_revert(data) if data else err
