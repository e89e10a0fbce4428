"""Where logs come from. One interface: JSON-RPC here, and a Hedera Mirror Node
(`chain.hedera.mirror_logs.MirrorNodeLogSource`, `/api/v1/contracts/{id}/results/logs` paged
with `links.next`) beside it. A log is the dict `eth_getLogs` returns; the ingestor orders
logs by block, `transactionIndex` and `logIndex`."""

from __future__ import annotations

from typing import Any, Protocol

from web3 import Web3

from chain.gateway import TransientChainError

Log = dict[str, Any]


class LogSource(Protocol):
    def head(self) -> int: ...

    def block_hash(self, number: int) -> str | None: ...

    def logs(self, address: str, from_block: int, to_block: int,
             topics: list[str | None] | None = None) -> list[Log]: ...

    def gas_used(self, tx_hash: str) -> int: ...


class JsonRpcLogSource:
    """`eth_getLogs` over adaptive ranges: a provider that refuses a range gets half of it."""

    def __init__(self, w3: Web3, *, max_range: int = 2_000) -> None:
        self.w3 = w3
        self.max_range = max_range

    def head(self) -> int:
        return int(self._rpc(lambda: self.w3.eth.block_number))

    def block_hash(self, number: int) -> str | None:
        """From the raw header: web3's block formatters cost more than the request."""
        if number < 0:
            return None
        response = self._rpc(lambda: self.w3.provider.make_request(
            "eth_getBlockByNumber", [hex(number), False]))  # type: ignore[arg-type]
        block = response.get("result")
        if not block:
            raise TransientChainError(f"block {number} not available: {response.get('error')}")
        return str(block["hash"])

    def logs(self, address: str, from_block: int, to_block: int,
             topics: list[str | None] | None = None) -> list[Log]:
        out: list[Log] = []
        start = from_block
        span = self.max_range
        while start <= to_block:
            end = min(to_block, start + span - 1)
            params: dict[str, Any] = {"address": address, "fromBlock": start, "toBlock": end}
            if topics:
                params["topics"] = topics
            try:
                out.extend(dict(entry) for entry in self.w3.eth.get_logs(params))  # type: ignore[arg-type]
            except Exception as err:
                text = str(err).lower()
                if span > 1 and any(w in text for w in ("range", "limit", "too many", "exceed")):
                    span = max(1, span // 2)  # the provider's limit: ask for less
                    continue
                raise TransientChainError(f"eth_getLogs {start}-{end} failed: {err}") from err
            start = end + 1
        return out

    def gas_used(self, tx_hash: str) -> int:
        """Straight from the raw receipt: web3's formatters over a batch's ~400 logs cost
        ~0.1 s per receipt, for one number."""
        response = self._rpc(lambda: self.w3.provider.make_request(
            "eth_getTransactionReceipt", [tx_hash]))  # type: ignore[arg-type]
        return int(response["result"]["gasUsed"], 16)

    @staticmethod
    def _rpc(call: Any) -> Any:
        try:
            return call()
        except Exception as err:
            raise TransientChainError(f"RPC failed: {err}") from err
