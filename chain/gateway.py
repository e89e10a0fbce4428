"""The EVM adapter: one connection, fee and nonce policy, broadcast with typed failures.

Nonces of one signer are serialized across worker processes with a PostgreSQL advisory lock
held from "read the pending nonce" to "broadcast done". It is a session lock, so a worker
killed with -9 releases it when its connection drops; nothing can be left locked.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
from web3 import Web3
from web3.exceptions import TransactionNotFound

from chain.errors import ContractRevertError

FEES_TTL = 2.0


class ChainError(Exception):
    """Base of the chain adapter's errors."""


class TransientChainError(ChainError):
    """Worth retrying with backoff: RPC down or timing out, nonce races, fee replacement."""


class WrongChainError(ChainError):
    """The RPC endpoint serves another chain than configured: nothing is sent."""


@dataclass(frozen=True, slots=True)
class Fees:
    max_fee_per_gas: int
    max_priority_fee_per_gas: int


TRANSIENT_MESSAGES = ("nonce too low", "replacement transaction underpriced",
                      "replacement underpriced", "already known", "timeout", "temporarily",
                      "connection", "max fee per gas less than block base fee")


class EvmGateway:
    def __init__(self, w3: Web3, *, expected_chain_id: int | None, database_url: str) -> None:
        try:
            self.chain_id = int(w3.eth.chain_id)
        except Exception as err:
            raise TransientChainError(f"RPC endpoint not reachable: {err}") from err
        if expected_chain_id is not None and self.chain_id != expected_chain_id:
            raise WrongChainError(f"RPC serves chain {self.chain_id}, expected {expected_chain_id}")
        self.w3 = w3
        self._database_url = database_url
        self._fees: Fees | None = None
        self._fees_at = 0.0

    # --- nonces ---

    @contextlib.contextmanager
    def nonce_lock(self, address: str) -> Iterator[None]:
        key = int.from_bytes(hashlib.sha256(f"nonce:{self.chain_id}:{address.lower()}".encode())
                             .digest()[:8], "big", signed=True)
        with psycopg.connect(self._database_url, autocommit=True) as conn:
            conn.execute("SELECT pg_advisory_lock(%s)", (key,))
            try:
                yield
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (key,))

    def pending_nonce(self, address: str) -> int:
        return int(self._rpc(lambda: self.w3.eth.get_transaction_count(address, "pending")))  # type: ignore[arg-type]

    def latest_nonce(self, address: str) -> int:
        return int(self._rpc(lambda: self.w3.eth.get_transaction_count(address, "latest")))  # type: ignore[arg-type]

    # --- fees and broadcast ---

    def fees(self) -> Fees:
        """EIP-1559: 2x the current base fee as a ceiling, plus a modest tip.

        Reused for FEES_TTL seconds: the 2x ceiling absorbs a few blocks of base-fee rise,
        and it saves an RPC inside the nonce lock, where every millisecond is serialized.
        """
        now = time.monotonic()
        if self._fees is not None and now - self._fees_at < FEES_TTL:
            return self._fees
        block = self._rpc(lambda: self.w3.eth.get_block("latest"))
        base = int(block.get("baseFeePerGas", 0) or 0)
        tip = max(1_000_000_000, base // 10)
        self._fees, self._fees_at = Fees(2 * base + tip, tip), now
        return self._fees

    def broadcast(self, raw: bytes) -> str:
        try:
            return "0x" + bytes(self.w3.eth.send_raw_transaction(raw)).hex()
        except Exception as err:
            text = str(err).lower()
            if "already known" in text:
                return "already-known"  # our own retry of the same signed bytes: harmless
            if any(m in text for m in TRANSIENT_MESSAGES) or isinstance(err, OSError):
                raise TransientChainError(f"broadcast failed: {err}") from err
            raise

    def receipt(self, tx_hash: str) -> dict[str, Any] | None:
        try:
            return dict(self._rpc(lambda: self.w3.eth.get_transaction_receipt(tx_hash)))  # type: ignore[arg-type]
        except TransactionNotFound:
            return None

    def transaction_known(self, tx_hash: str) -> bool:
        try:
            self._rpc(lambda: self.w3.eth.get_transaction(tx_hash))  # type: ignore[arg-type]
        except TransactionNotFound:
            return False
        return True

    def _rpc(self, call: Any) -> Any:
        try:
            return call()
        except (TransactionNotFound, ContractRevertError):
            raise
        except (OSError, TimeoutError) as err:
            raise TransientChainError(f"RPC failed: {err}") from err
        except Exception as err:
            if "connection" in str(err).lower() or "timeout" in str(err).lower():
                raise TransientChainError(f"RPC failed: {err}") from err
            raise
