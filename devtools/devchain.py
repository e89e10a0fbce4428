"""Development chains: anvil from npm over JSON-RPC, and py-evm in process via eth-tester.

Both run the Cancun rules, the EVM the contracts are compiled for (Hedera's EVM level), and both
have a block gas limit well above Hedera's 15M per-transaction cap so the cap is ours to enforce.
Only loopback addresses are ever used.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

from web3 import Web3
from web3.providers.eth_tester import EthereumTesterProvider

ROOT = Path(__file__).resolve().parent.parent
ANVIL = ROOT / "contracts" / "node_modules" / ".bin" / "anvil"
HARDFORK = "cancun"
BLOCK_GAS_LIMIT = 60_000_000


class DevChainError(RuntimeError):
    """The dev chain could not be started or did not answer."""


def pyevm_web3(*, accounts: int = 10, gas_limit: int = BLOCK_GAS_LIMIT) -> Web3:
    """A fresh in-process chain with `accounts` funded, unlocked accounts (1M ether each)."""
    from eth.vm.forks.cancun import CancunVM
    from eth_tester import EthereumTester, PyEVMBackend

    params = PyEVMBackend.generate_genesis_params(overrides={"gas_limit": gas_limit})
    state = PyEVMBackend.generate_genesis_state(num_accounts=accounts)
    backend = PyEVMBackend(
        genesis_parameters=params, genesis_state=state, vm_configuration=((0, CancunVM),)
    )
    return Web3(EthereumTesterProvider(EthereumTester(backend)))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Anvil:
    """An anvil process with a clean in-memory state on a free loopback port.

    Use as a context manager, or `start()`/`stop()`. Accounts are anvil's well-known funded and
    unlocked development accounts.
    """

    def __init__(self, *, accounts: int = 10, gas_limit: int = BLOCK_GAS_LIMIT,
                 binary: Path = ANVIL, startup_timeout: float = 30.0) -> None:
        self.accounts = accounts
        self.gas_limit = gas_limit
        self.binary = binary
        self.startup_timeout = startup_timeout
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Web3:
        if not self.binary.exists():
            raise DevChainError(f"{self.binary} is missing: run `npm ci --prefix contracts`")
        self.port = free_port()
        self._proc = subprocess.Popen(
            [str(self.binary), "--host", "127.0.0.1", "--port", str(self.port),
             "--hardfork", HARDFORK, "--gas-limit", str(self.gas_limit),
             "--accounts", str(self.accounts), "--chain-id", "31337", "--silent"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            start_new_session=True,  # its own process group: the npm shim and anvil stop together
        )
        try:
            return self._answering()
        except BaseException:  # Ctrl-C or SIGTERM while it starts: it stops too
            self.stop()
            raise

    def _answering(self) -> Web3:
        assert self._proc is not None
        w3 = Web3(Web3.HTTPProvider(self.url, request_kwargs={"timeout": 60}))
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                err = self._proc.stderr.read().decode() if self._proc.stderr else ""
                raise DevChainError(f"anvil exited with {self._proc.returncode}: {err}")
            try:
                if w3.is_connected():
                    return w3
            except OSError:
                pass
            time.sleep(0.05)
        raise DevChainError(f"anvil did not answer on {self.url} in {self.startup_timeout}s")

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        self._signal(proc, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._signal(proc, signal.SIGKILL)
            proc.wait()
        if proc.stderr:
            proc.stderr.close()

    @staticmethod
    def _signal(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
        """Signals the group this process leads (started by us), i.e. the shim and anvil."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)

    def __enter__(self) -> Web3:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
