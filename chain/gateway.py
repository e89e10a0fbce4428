"""The EVM adapter: one connection, fee and nonce policy, broadcast with typed failures.

Nonces of one signer are serialized across worker processes with a PostgreSQL advisory lock
held from "read the pending nonce" to "broadcast done". It is a session lock, so a worker
killed with -9 releases it when its connection drops; nothing can be left locked. The lock's
connection is kept open between batches: connecting (a new server process each time) was the
slowest part of taking an uncontended lock.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
from eth_abi.abi import encode
from eth_utils.crypto import keccak
from web3 import Web3
from web3.exceptions import TransactionNotFound

from chain.errors import ChainError, ContractRevertError, decode_revert
from domain.network import EVM, NetworkMismatch, NetworkProfile

FEES_TTL = 2.0


class TransientChainError(ChainError):
    """Worth retrying with backoff: RPC down or timing out, nonce races, fee replacement."""


class RpcChainIdMismatchError(ChainError):
    """The RPC node answers with another chain id than CHAIN_ID configures: nothing is sent.

    A configuration fault, never retried (unlike TransientChainError): the node is reachable,
    it is the wrong network."""


@dataclass(frozen=True, slots=True)
class Fees:
    max_fee_per_gas: int
    max_priority_fee_per_gas: int


BALANCE_OF = keccak(text="balanceOf(address)")[:4]

TRANSIENT_MESSAGES = ("nonce too low", "replacement transaction underpriced",
                      "replacement underpriced", "already known", "timeout", "temporarily",
                      "connection", "max fee per gas less than block base fee")


class EvmGateway:
    def __init__(self, w3: Web3, *, expected_chain_id: int | None, database_url: str,
                 network: NetworkProfile = EVM) -> None:
        try:
            self.chain_id = int(w3.eth.chain_id)
        except Exception as err:
            raise TransientChainError(f"RPC endpoint not reachable: {err}") from err
        if expected_chain_id is not None and self.chain_id != expected_chain_id:
            raise RpcChainIdMismatchError(
                f"RPC serves chain {self.chain_id}, expected {expected_chain_id}")
        try:  # a Hedera profile on another chain, or the generic one on Hedera
            network.check_chain(self.chain_id)
        except NetworkMismatch as err:
            raise RpcChainIdMismatchError(str(err)) from None
        self.network = network
        self.w3 = w3
        self._database_url = database_url
        self._fees: Fees | None = None
        self._fees_at = 0.0
        self._lock_conn: psycopg.Connection[Any] | None = None
        self._lock_mutex = threading.Lock()  # one lock section per process at a time

    # --- nonces ---

    @contextlib.contextmanager
    def nonce_lock(self, address: str) -> Iterator[None]:
        key = int.from_bytes(hashlib.sha256(f"nonce:{self.chain_id}:{address.lower()}".encode())
                             .digest()[:8], "big", signed=True)
        with self._lock_mutex:
            conn = self._locked(key)
            try:
                yield
            finally:
                try:
                    conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
                except psycopg.Error:
                    self._drop_lock_connection()  # the session's end releases the lock

    def _locked(self, key: int) -> psycopg.Connection[Any]:
        try:
            return self._lock_on(key)
        except psycopg.OperationalError:  # the kept connection went away while idle
            self._drop_lock_connection()
            return self._lock_on(key)

    def _lock_on(self, key: int) -> psycopg.Connection[Any]:
        if self._lock_conn is None or self._lock_conn.closed:
            self._lock_conn = psycopg.connect(self._database_url, autocommit=True)
        self._lock_conn.execute("SELECT pg_advisory_lock(%s)", (key,))
        return self._lock_conn

    def _drop_lock_connection(self) -> None:
        conn, self._lock_conn = self._lock_conn, None
        if conn is not None:
            with contextlib.suppress(psycopg.Error):
                conn.close()

    def close(self) -> None:
        with self._lock_mutex:
            self._drop_lock_connection()

    def pending_nonce(self, address: str) -> int:
        """The next nonce: counted with the pending pool, or at `latest` on a network that has
        none (Hedera's relay: a transaction is final or unknown)."""
        block = self.network.nonce_block
        return int(self._rpc(lambda: self.w3.eth.get_transaction_count(address, block)))  # type: ignore[arg-type]

    # --- reads ---

    def block_number(self) -> int:
        return int(self._raw("eth_blockNumber", []), 16)

    def call(self, to: str, data: bytes, block: int | str = "latest") -> bytes:
        """A raw `eth_call` (no ABI machinery); a revert raises ContractRevertError, decoded."""
        tag = hex(block) if isinstance(block, int) else block
        result = self._raw("eth_call", [{"to": to, "data": "0x" + data.hex()}, tag])
        return bytes.fromhex(str(result)[2:])

    def token_balance(self, token: str, holder: str, block: int | str = "latest") -> int:
        """An ERC-20 balance at `block`."""
        raw = self.call(token, BALANCE_OF + encode(["address"], [holder]), block)
        return int.from_bytes(raw[:32], "big")

    # --- fees and broadcast ---

    def fees(self) -> Fees:
        """EIP-1559: 2x the current base fee as a ceiling, plus a modest tip.

        Reused for FEES_TTL seconds: the 2x ceiling absorbs a few blocks of base-fee rise,
        and it saves an RPC inside the nonce lock, where every millisecond is serialized.
        """
        now = time.monotonic()
        if self._fees is not None and now - self._fees_at < FEES_TTL:
            return self._fees
        if self.network.fixed_gas_price:
            self._fees, self._fees_at = self._fixed_fees(), now
            return self._fees
        block = self._rpc(lambda: self.w3.eth.get_block("latest"))
        base = int(block.get("baseFeePerGas", 0) or 0)
        tip = max(1_000_000_000, base // 10)
        self._fees, self._fees_at = Fees(2 * base + tip, tip), now
        return self._fees

    def _fixed_fees(self) -> Fees:
        """A network with one gas price (Hedera): offer it, 10 % above the quote for a price
        that moves with the exchange rate meanwhile; the network charges its own price, and a
        tip buys nothing, so the tip is the whole offer (as the relay's own tests send)."""
        price = int(self._raw("eth_gasPrice", []), 16) * 11 // 10
        return Fees(price, price)

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

    def receipt(self, tx_hash: str) -> dict[str, int] | None:
        """Where a mined transaction stands: status, blockNumber, gasUsed; None if not mined.

        Read raw: web3's formatters over a 417-leaf batch's ~420 logs cost ~80 ms a receipt
        (the raw read ~6 ms), and the supervisor asks for one per batch in flight each pass."""
        found = self._raw("eth_getTransactionReceipt", [tx_hash])
        if not found:
            return None
        return {key: int(found[key], 16) for key in ("status", "blockNumber", "gasUsed")}

    def created_contract(self, tx_hash: str) -> str | None:
        """The contract a mined creation made (its receipt's `contractAddress`); None if it
        is not mined or made none."""
        found = self._raw("eth_getTransactionReceipt", [tx_hash])
        address = found.get("contractAddress") if found else None
        return str(address) if address else None

    def transaction_known(self, tx_hash: str) -> bool:
        """Whether the node has the transaction (pending or mined)."""
        return bool(self._raw("eth_getTransactionByHash", [tx_hash]))

    def _raw(self, method: str, params: list[Any]) -> Any:
        response = self._rpc(lambda: self.w3.provider.make_request(method, params))  # type: ignore[arg-type]
        error = response.get("error")
        if not error:
            return response["result"]
        data = error.get("data") if isinstance(error, dict) else None
        if isinstance(data, str) and len(data) >= 10:
            raise decode_revert(data)
        message = str(error.get("message", error) if isinstance(error, dict) else error)
        if any(m in message.lower() for m in TRANSIENT_MESSAGES):
            raise TransientChainError(f"{method} failed: {message}")
        raise ChainError(f"{method} failed: {message}")

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
