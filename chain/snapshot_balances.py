"""`balanceOfAtSnapshot` (or, with no snapshot, `balanceOf`) for a page of holders, without
one HTTP round trip per holder.

The fallback for a token without ATS's paged `balancesOfAtSnapshot` (older ATS versions), and
the reader of balances now. A Multicall contract is not deployed on every network we serve
(nor on the dev chains), so the reads are grouped as JSON-RPC batches: one
HTTP request per `rpc_batch` calls. Endpoints that refuse batches (the Hedera relay unless
batching is enabled; eth-tester in process) get one eth_call per holder. The calldata is
encoded by hand: at 100k holders web3's per-call ABI machinery costs more than the call.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from web3 import Web3
from web3.exceptions import Web3Exception
from web3.providers.eth_tester import EthereumTesterProvider
from web3.types import TxParams

from chain.ats_abi import BALANCE_OF, BALANCE_OF_AT_SNAPSHOT
from chain.errors import reverts, translate

_SELECTOR = BALANCE_OF_AT_SNAPSHOT.selector
_BALANCE_OF = BALANCE_OF.selector


class BalanceReader:
    """Reads one snapshot's balances; remembers whether the endpoint takes batches."""

    def __init__(self, w3: Web3, token: str, snapshot_id: int | None, *,
                 rpc_batch: int = 100) -> None:
        """`snapshot_id` None: the balances now (`balanceOf`)."""
        self._w3 = w3
        self._token = token
        self._prefix = (_BALANCE_OF if snapshot_id is None
                        else _SELECTOR + snapshot_id.to_bytes(32, "big")) + bytes(12)
        self._rpc_batch = rpc_batch
        self.batching = rpc_batch > 0 and not isinstance(w3.provider, EthereumTesterProvider)

    def read(self, holders: Sequence[str]) -> list[int]:
        if self.batching:
            try:
                return self._batched(holders)
            except (Web3Exception, NotImplementedError, ValueError):
                # The endpoint does not batch (or one call failed): read one by one, which
                # either works or raises that call's own, decoded error.
                self.batching = False
        return [self._one(holder) for holder in holders]

    def _tx(self, holder: str) -> TxParams:
        return {"to": self._token, "data": self._prefix + bytes.fromhex(holder[2:])}

    def _one(self, holder: str) -> int:
        try:
            return _decode(self._w3.eth.call(self._tx(holder)))
        except reverts() as err:
            raise translate(err) from err

    def _batched(self, holders: Sequence[str]) -> list[int]:
        out: list[int] = []
        for start in range(0, len(holders), self._rpc_batch):
            with self._w3.batch_requests() as batch:
                for holder in holders[start:start + self._rpc_batch]:
                    batch.add(self._w3.eth.call(self._tx(holder)))
                results: list[Any] = batch.execute()
            out += [_decode(r) for r in results]
        if len(out) != len(holders):
            raise ValueError(f"{len(out)} balances for {len(holders)} holders")
        return out


def _decode(raw: bytes) -> int:
    if len(raw) != 32:
        raise ValueError(f"balanceOfAtSnapshot returned {len(raw)} bytes, expected 32")
    return int.from_bytes(raw, "big")
