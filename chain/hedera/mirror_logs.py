"""The Mirror Node as a `LogSource`: the vault ingestor runs on it unchanged.

How the ingestor's block cursor maps onto the Mirror Node (OpenAPI: see `mirror_client`):

- A Hedera "block" is a record file: `/api/v1/blocks/{number}` gives its `hash` (48 bytes,
  SHA-384) and its consensus `timestamp` range `{from, to}`. Block numbers count record files
  from network start, as the JSON-RPC relay's `eth_blockNumber` does, so the cursor means the
  same thing on either source.
- `head()` is the newest block the node has imported (`/api/v1/blocks?order=desc&limit=1`).
  Hedera has finality: with 0 confirmations every block up to it is final, so the cursor's
  reorg check (`block_hash` at the cursor) can only fail if the node itself is broken.
- `block_hash(n)` is the record file hash cut to its first 32 bytes, as the relay reports it
  to EVM tools; the cursor stores that, whichever source ingested the range.
- `logs(address, from, to)` asks `/api/v1/contracts/{address}/results/logs` for the consensus
  timestamp range [from-block.timestamp.from, to-block.timestamp.to], oldest first, 100 rows a
  page, following `links.next`. Consensus timestamps are the real order: every row must come
  strictly after the previous one by (timestamp, index), across pages, or the whole range is
  refused (`MirrorNodeInconsistent`: nothing recorded, the cursor stays, asked again later).
- Topic filters go to the node (`topicN`, which the node accepts only with a timestamp range
  of at most 7 days: longer ranges are asked in 7-day windows) and are checked again here.
- A row becomes the dict `eth_getLogs` returns: `logIndex` is the Mirror Node's `index`, the
  position of the log in its transaction's chain of logs, and `transactionIndex` its
  transaction's position in the block (the ingestor orders by block, transaction, log).
  `address` is the contract asked for: the node lists only that contract's own logs.
- `gas_used(tx)` is `gas_used` of `/api/v1/contracts/results/{hash}`.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from eth_utils.address import to_checksum_address
from hexbytes import HexBytes

from chain.hedera.errors import MirrorNodeInconsistent
from chain.hedera.mirror_client import MirrorNodeClient
from chain.logs import Log

SEVEN_DAYS_NS = 7 * 24 * 3600 * 10**9  # the node's bound on a topic query's timestamp range
Topics = Sequence[str | Sequence[str] | None]


class MirrorNodeLogSource:
    """`chain.logs.LogSource` over a Mirror Node; blocks are cached (they are final)."""

    def __init__(self, client: MirrorNodeClient, *, cached_blocks: int = 4_096) -> None:
        self.client = client
        self._blocks: OrderedDict[int, dict[str, Any]] = OrderedDict()
        self._cached_blocks = cached_blocks

    def head(self) -> int:
        return _int(self.client.latest_block(), "number")

    def block_hash(self, number: int) -> str | None:
        if number < 0:
            return None
        return _eth_hash(self._block(number), "hash")

    def logs(self, address: str, from_block: int, to_block: int,
             topics: Topics | None = None) -> list[Log]:
        if from_block > to_block:
            return []
        start = _ns(_range(self._block(from_block))[0])
        end = _ns(_range(self._block(to_block))[1])
        wanted = [_topic_set(t) for t in (topics or ())]
        out: list[Log] = []
        last: tuple[int, int] | None = None
        window = SEVEN_DAYS_NS if any(wanted) else end - start + 1
        while start <= end:
            stop = min(end, start + window - 1)
            for page in self.client.contract_logs(
                    address, timestamp_from=_ts(start), timestamp_to=_ts(stop),
                    topics=[sorted(w) if w else None for w in wanted]):
                for row in page:
                    log = _log(row, address)
                    order = (_ns(_str(row, "timestamp")), log["logIndex"])
                    if last is not None and order <= last:
                        raise MirrorNodeInconsistent(
                            f"logs of {address}: a row at {_str(row, 'timestamp')}#"
                            f"{log['logIndex']} came after one at {_ts(last[0])}#{last[1]}"
                            " (a page out of order or overlapping)")
                    last = order
                    if not from_block <= log["blockNumber"] <= to_block:
                        raise MirrorNodeInconsistent(
                            f"logs of {address}: block {log['blockNumber']} is outside the"
                            f" blocks asked for ({from_block}-{to_block})")
                    if _matches(log["topics"], wanted):
                        out.append(log)
            start = stop + 1
        return out

    def gas_used(self, tx_hash: str) -> int:
        result = self.client.contract_result(tx_hash)
        if result is None:
            raise MirrorNodeInconsistent(f"no contract result for {tx_hash} (not imported yet?)")
        return _int(result, "gas_used")

    def _block(self, number: int) -> dict[str, Any]:
        block = self._blocks.get(number)
        if block is None:
            block = self.client.block(number)
            if block is None:
                raise MirrorNodeInconsistent(f"block {number} is not on the Mirror Node (yet)")
            _range(block)
            self._blocks[number] = block
            if len(self._blocks) > self._cached_blocks:
                self._blocks.popitem(last=False)
        return block


def _log(row: dict[str, Any], address: str) -> Log:
    topics = row.get("topics")
    if not isinstance(topics, list) or not all(isinstance(t, str) for t in topics):
        raise MirrorNodeInconsistent(f"a log without a list of topics: {row!r:.200}")
    data = row.get("data") or "0x"
    try:
        return {
            "address": to_checksum_address(address),
            "topics": [HexBytes(_word(t)) for t in topics],
            "data": HexBytes(data),
            "blockNumber": _int(row, "block_number"),
            "blockHash": HexBytes(_eth_hash(row, "block_hash")),
            "transactionHash": HexBytes(_eth_hash(row, "transaction_hash")),
            "transactionIndex": int(row.get("transaction_index") or 0),
            "logIndex": _int(row, "index"),
            "removed": False,
        }
    except ValueError as err:
        raise MirrorNodeInconsistent(f"a log with a malformed field: {err}") from None


def _word(topic: str) -> str:
    """Topics as 32-byte words (a node may send them without leading zero bytes)."""
    return "0x" + topic.removeprefix("0x").rjust(64, "0")


def _topic_set(topic: str | Sequence[str] | None) -> frozenset[str] | None:
    if topic is None:
        return None
    values = [topic] if isinstance(topic, str) else list(topic)
    return frozenset(_word(v).lower() for v in values)


def _matches(topics: list[HexBytes], wanted: list[frozenset[str] | None]) -> bool:
    for position, allowed in enumerate(wanted):
        if allowed is None:
            continue
        if position >= len(topics) or "0x" + topics[position].hex() not in allowed:
            return False
    return True


def _eth_hash(row: dict[str, Any], key: str) -> str:
    """A 32-byte hash: the first 32 of a 48-byte Hedera hash, as the JSON-RPC relay does."""
    value = _str(row, key)
    body = value.removeprefix("0x")
    if len(body) not in (64, 96) or any(c not in "0123456789abcdefABCDEF" for c in body):
        raise MirrorNodeInconsistent(f"{key} {value!r} is not a 32- or 48-byte hex hash")
    return "0x" + body[:64].lower()


def _range(block: dict[str, Any]) -> tuple[str, str]:
    span = block.get("timestamp")
    if not isinstance(span, dict) or not isinstance(span.get("from"), str) \
            or not isinstance(span.get("to"), str):
        raise MirrorNodeInconsistent(f"block {block.get('number')} has no timestamp range")
    return span["from"], span["to"]


def _str(row: dict[str, Any], key: str) -> str:
    value = row.get(key)
    if not isinstance(value, str):
        raise MirrorNodeInconsistent(f"{key} missing or not a string in {row!r:.200}")
    return value


def _int(row: dict[str, Any], key: str) -> int:
    value = row.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise MirrorNodeInconsistent(f"{key} missing or not an integer in {row!r:.200}")
    return value


def _ns(timestamp: str) -> int:
    """`seconds.nanoseconds` as an int of nanoseconds (exact: never through a float)."""
    seconds, _, nanos = timestamp.partition(".")
    if not seconds.isdigit() or (nanos and not nanos.isdigit()) or len(nanos) > 9:
        raise MirrorNodeInconsistent(f"{timestamp!r} is not a seconds.nanoseconds timestamp")
    return int(seconds) * 10**9 + int(nanos.ljust(9, "0") or 0)


def _ts(ns: int) -> str:
    return f"{ns // 10**9}.{ns % 10**9:09d}"
