"""A Mirror Node STAND-IN: the Mirror Node's REST API, served from a real anvil chain.

The Hedera network (and so any real Mirror Node) is unreachable from this machine. This server
answers the Mirror Node endpoints our adapters use, in the published REST format (shapes per
`rest/api/v1/openapi.yml` of hiero-ledger/hiero-mirror-node at
7cf097828b963777a3fbd53521c652f4d3d0a8ec), with the data of an anvil chain read over JSON-RPC:

- a block is a "record file": its `hash` is 48 bytes (anvil's 32-byte hash followed by 16 bytes
  of its keccak, so cutting it to 32 bytes, as the relay does, gives anvil's hash back), its
  consensus `timestamp` range starts at `block.timestamp` seconds + `number` µs (strictly
  increasing, even for blocks mined in the same second) and a transaction's consensus
  timestamp is that start + its index in nanoseconds;
- contract logs carry `index` per transaction (the Mirror Node's "chain of logs for an
  execution"), pages of at most 100 rows with `links.next` (`timestamp=gte:T&index=gt:i`,
  read as "after (T, i)", as the node's paging does);
- accounts: a long-zero address is account `0.0.num`; any other address seen on the chain is
  an ECDSA-alias account numbered from 0.0.10001 in order of first sight; unknown ones are 404;
- tokens: an ERC-20 on anvil registered with `add_token` plays an HTS fungible token, its
  balances at a timestamp replayed from its Transfer logs up to that block.

Faults (`inject`): 429 with Retry-After, 5xx, malformed JSON, a page served out of order, a next
page that overlaps the previous one, and a token whose supply disagrees with its balances.
More resources (e.g. `/api/v1/transactions` for the HTS rail) plug in with `add_route`.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from eth_utils.crypto import keccak
from web3 import Web3

TRANSFER = "0x" + keccak(text="Transfer(address,address,uint256)").hex()
FIRST_ALIAS_NUM = 10_001
MAX_LIMIT = 100
SEVEN_DAYS_NS = 7 * 24 * 3600 * 10**9  # a topic query's longest timestamp range (OpenAPI)
Json = dict[str, Any]
Answer = tuple[int, Any, dict[str, str]]


@dataclass
class Fault:
    """Applied to the next `times` requests whose path and query contain `match`."""

    kind: str  # "429", "500", "503", "malformed", "out_of_order", "overlap", "supply"
    match: str = ""
    times: int = 1
    retry_after: float | None = None


class StandinError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class _Token:
    address: str
    kind: str  # FUNGIBLE_COMMON or NON_FUNGIBLE_UNIQUE


@dataclass
class MirrorStandin:
    w3: Web3
    faults: list[Fault] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._blocks: dict[int, Json] = {}
        self._receipts: dict[str, Json] = {}
        self._alias_nums: dict[str, int] = {}  # lower-case address -> account num
        self._tokens: dict[int, _Token] = {}
        self.routes: list[tuple[re.Pattern[str], Callable[..., Answer]]] = [
            (re.compile(r"/api/v1/blocks"), self._blocks_list),
            (re.compile(r"/api/v1/blocks/(\d+)"), self._block),
            (re.compile(r"/api/v1/contracts/results/(0x[0-9a-fA-F]{64})"), self._result),
            (re.compile(r"/api/v1/contracts/([^/]+)/results/logs"), self._logs),
            (re.compile(r"/api/v1/accounts"), self._accounts),
            (re.compile(r"/api/v1/accounts/([^/]+)"), self._account),
            (re.compile(r"/api/v1/tokens/([^/]+)"), self._token),
            (re.compile(r"/api/v1/tokens/([^/]+)/balances"), self._balances),
        ]
        for account in self.w3.eth.accounts:
            self.account_num(str(account))
        self._server: ThreadingHTTPServer | None = None

    # --- setup and faults ---

    def inject(self, kind: str, match: str = "", *, times: int = 1,
               retry_after: float | None = None) -> Fault:
        fault = Fault(kind, match, times, retry_after)
        with self._lock:
            self.faults.append(fault)
        return fault

    def add_route(self, pattern: str, handler: Callable[..., Answer]) -> None:
        """Serve another resource (e.g. `/api/v1/transactions/([^/]+)` for the HTS rail):
        `handler(*groups, query=..., fault=...)` answers (status, body, headers)."""
        self.routes.append((re.compile(pattern), handler))

    def add_token(self, address: str, *, kind: str = "FUNGIBLE_COMMON") -> str:
        """Serve the ERC-20 at `address` as an HTS token; returns its id `0.0.n`."""
        num = 5_000 + len(self._tokens)
        self._tokens[num] = _Token(Web3.to_checksum_address(address), kind)
        return f"0.0.{num}"

    def account_num(self, address: str) -> int:
        raw = bytes.fromhex(address[2:])
        if raw[:12] == bytes(12):
            return int.from_bytes(raw[12:], "big")
        with self._lock:
            return self._alias_nums.setdefault(address.lower(),
                                               FIRST_ALIAS_NUM + len(self._alias_nums))

    def account_id(self, address: str) -> str:
        return f"0.0.{self.account_num(address)}"

    # --- serving ---

    def start(self) -> str:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, body, headers = standin.answer(self.path)
                raw = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True,
                         name="mirror-standin").start()
        return self.url

    @property
    def url(self) -> str:
        assert self._server is not None, "start() first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> MirrorStandin:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def answer(self, target: str) -> Answer:
        """(status, JSON body or raw bytes, headers) for a GET of `target`."""
        self.requests.append(target)
        parts = urlsplit(target)
        query = parse_qs(parts.query, keep_blank_values=True)
        fault = self._take_fault(target)
        if fault and fault.kind in ("429", "500", "502", "503"):
            headers = {"Retry-After": f"{fault.retry_after:g}"} \
                if fault.retry_after is not None else {}
            return int(fault.kind), _error("Too many requests" if fault.kind == "429"
                                           else "Service unavailable"), headers
        if fault and fault.kind == "malformed":
            return 200, b'{"logs": [{"address": "0x', {}
        for pattern, route in self.routes:
            match = pattern.fullmatch(parts.path)
            if match:
                try:
                    status, body, headers = route(*match.groups(), query=query, fault=fault)
                except StandinError as err:
                    return err.status, _error(str(err)), {}
                return status, body, headers
        return 404, _error("Not found"), {}

    def _take_fault(self, target: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.times > 0 and fault.match.lower() in target.lower():
                    fault.times -= 1
                    return fault
        return None

    # --- chain reads (cached: anvil's blocks do not change under us) ---

    def head(self) -> int:
        return int(self.w3.eth.block_number)

    def block(self, number: int) -> Json:
        cached = self._blocks.get(number)
        if cached is None:
            raw = self.w3.provider.make_request("eth_getBlockByNumber",  # type: ignore[arg-type]
                                                [hex(number), False])["result"]
            if raw is None:
                raise StandinError(404, "Not found")
            start = int(raw["timestamp"], 16) * 10**9 + number * 1_000
            cached = {"number": number, "hash": raw["hash"], "parent": raw["parentHash"],
                      "count": len(raw["transactions"]), "gas_used": int(raw["gasUsed"], 16),
                      "bloom": raw["logsBloom"], "from": start, "to": start + 999,
                      "seconds": int(raw["timestamp"], 16)}
            self._blocks[number] = cached
        return cached

    def receipt(self, tx_hash: str) -> Json:
        cached = self._receipts.get(tx_hash)
        if cached is None:
            cached = self.w3.provider.make_request("eth_getTransactionReceipt",  # type: ignore[arg-type]
                                                   [tx_hash])["result"]
            if cached is None:
                raise StandinError(404, "Not found")
            self._receipts[tx_hash] = cached
        return cached

    def block_at(self, ns: int) -> int:
        """The newest block whose consensus range starts at or before `ns` (-1: none)."""
        lo, hi = 0, self.head()
        if self.block(0)["from"] > ns:
            return -1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self.block(mid)["from"] <= ns:
                lo = mid
            else:
                hi = mid - 1
        return lo

    # --- routes ---

    def _blocks_list(self, *, query: dict[str, list[str]], fault: Fault | None) -> Answer:
        limit = _limit(query)
        head = self.head()
        order = query.get("order", ["desc"])[-1]
        numbers = range(head, max(-1, head - limit), -1) if order == "desc" \
            else range(min(head + 1, limit))
        return 200, {"blocks": [self._block_json(n) for n in numbers], "links": {"next": None}}, {}

    def _block(self, number: str, *, query: dict[str, list[str]],
               fault: Fault | None) -> Answer:
        n = int(number)
        if n > self.head():
            raise StandinError(404, "Not found")
        return 200, self._block_json(n), {}

    def _block_json(self, n: int) -> Json:
        b = self.block(n)
        parent = _hedera_hash(b["parent"]) if n > 0 else "0x" + "00" * 48
        name = datetime.fromtimestamp(b["seconds"], UTC).strftime("%Y-%m-%dT%H_%M_%S") \
            + f".{b['from'] % 10**9:09d}Z.rcd"
        return {"count": b["count"], "gas_used": b["gas_used"], "hapi_version": "0.54.0",
                "hash": _hedera_hash(b["hash"]), "logs_bloom": b["bloom"], "name": name,
                "number": n, "previous_hash": parent, "size": None,
                "timestamp": {"from": _ts(b["from"]), "to": _ts(b["to"])}}

    def _result(self, tx_hash: str, *, query: dict[str, list[str]],
                fault: Fault | None) -> Answer:
        r = self.receipt(tx_hash.lower())
        n, index = int(r["blockNumber"], 16), int(r["transactionIndex"], 16)
        b = self.block(n)
        to = r.get("to") or r.get("contractAddress") or "0x" + "00" * 20
        ok = r["status"] == "0x1"
        return 200, {
            "address": to, "amount": 0, "block_gas_used": b["gas_used"],
            "block_hash": _hedera_hash(b["hash"]), "block_number": n, "bloom": r["logsBloom"],
            "call_result": "0x", "contract_id": self.account_id(to), "created_contract_ids": [],
            "error_message": None if ok else "CONTRACT_REVERT_EXECUTED",
            "from": r["from"], "function_parameters": "0x",
            "gas_consumed": int(r["gasUsed"], 16), "gas_limit": int(r["gasUsed"], 16),
            "gas_used": int(r["gasUsed"], 16), "hash": r["transactionHash"],
            "logs": [self._log_json(log, r) for log in r["logs"]],
            "result": "SUCCESS" if ok else "CONTRACT_REVERT_EXECUTED",
            "status": "0x1" if ok else "0x0", "timestamp": _ts(b["from"] + index), "to": to,
            "transaction_index": index, "state_changes": [],
        }, {}

    def _log_json(self, log: Json, receipt: Json) -> Json:
        n = int(log["blockNumber"], 16)
        tx_index = int(log["transactionIndex"], 16)
        first = int(receipt["logs"][0]["logIndex"], 16)
        return {"address": log["address"].lower(), "bloom": "0x",
                "contract_id": self.account_id(log["address"]), "data": log["data"],
                "index": int(log["logIndex"], 16) - first, "topics": log["topics"],
                "block_hash": _hedera_hash(self.block(n)["hash"]), "block_number": n,
                "root_contract_id": self.account_id(receipt.get("to") or log["address"]),
                "timestamp": _ts(self.block(n)["from"] + tx_index),
                "transaction_hash": log["transactionHash"], "transaction_index": tx_index}

    def _logs(self, contract: str, *, query: dict[str, list[str]],
              fault: Fault | None) -> Answer:
        if not re.fullmatch(r"(0x)?[0-9a-fA-F]{40}", contract):
            raise StandinError(400, "Invalid parameter: contractIdOrAddress (the stand-in"
                                    " takes EVM addresses)")
        address = Web3.to_checksum_address("0x" + contract.removeprefix("0x"))
        limit, order = _limit(query), query.get("order", ["desc"])[-1]
        lo, hi = _timestamp_bounds(query.get("timestamp", []))
        topics = {i: {_word(t) for t in query[f"topic{i}"]}
                  for i in range(4) if query.get(f"topic{i}")}
        if topics and (lo is None or hi is None or hi[0] - lo[0] > SEVEN_DAYS_NS):
            raise StandinError(400, "Invalid parameter: topic filters need a timestamp range"
                                    " of at most 7 days")
        after = query.get("index", [])
        if fault and fault.kind == "overlap":
            after = []  # the next page starts again at its timestamp: rows seen twice
        first, last = max(0, self.block_at(lo[0]) if lo else 0), \
            self.block_at(hi[0]) if hi else self.head()
        rows: list[Json] = []
        if last >= first:
            raw = self.w3.provider.make_request("eth_getLogs", [{  # type: ignore[arg-type]
                "address": address, "fromBlock": hex(first), "toBlock": hex(last)}])["result"]
            for log in raw:
                row = self._log_json(log, self.receipt(log["transactionHash"]))
                words = [t.lower() for t in row["topics"]]
                if all(i < len(words) and words[i] in allowed for i, allowed in topics.items()) \
                        and _within(row, lo, hi, after):
                    rows.append(row)
        rows.sort(key=_order_key, reverse=order == "desc")
        page = rows[:limit]
        if fault and fault.kind == "out_of_order":
            page.reverse()
        next_link = None
        if len(rows) > limit:
            tail = page[-1] if not (fault and fault.kind == "out_of_order") else page[0]
            params: list[tuple[str, str]] = [("limit", str(limit)), ("order", order)]
            bound = "gte" if order == "asc" else "lte"
            params += [("timestamp", v) for v in query.get("timestamp", [])
                       if not v.startswith(("gte", "gt:") if order == "asc" else ("lte", "lt:"))]
            params += [("timestamp", f"{bound}:{tail['timestamp']}"),
                       ("index", f"{'gt' if order == 'asc' else 'lt'}:{tail['index']}")]
            params += [(f"topic{i}", t) for i in range(4) for t in query.get(f"topic{i}", [])]
            next_link = f"/api/v1/contracts/{contract}/results/logs?{urlencode(params)}"
        return 200, {"logs": page, "links": {"next": next_link}}, {}

    def _accounts(self, *, query: dict[str, list[str]], fault: Fault | None) -> Answer:
        wanted = [v.removeprefix("eq:") for v in query.get("account.id", [])]
        if not all(re.fullmatch(r"(0\.0\.)?\d{1,10}", w) for w in wanted):
            raise StandinError(400, "Invalid parameter: account.id")
        known = {n: a for a, n in self._alias_nums.items()}
        addresses = (known.get(_num(w)) or "0x" + _num(w).to_bytes(20, "big").hex()
                     for w in sorted(set(wanted), key=_num))
        at = _ts(self.block(self.head())["to"])
        rows = [self._account_json(a, at) for a in addresses if self._exists(a)]
        return 200, {"accounts": rows[:_limit(query)], "links": {"next": None}}, {}

    def _account(self, ref: str, *, query: dict[str, list[str]],
                 fault: Fault | None) -> Answer:
        body = ref.removeprefix("0.0.").removeprefix("0x")
        if re.fullmatch(r"[0-9a-fA-F]{40}", body):
            address = "0x" + body.lower()
        elif body.isdigit():
            by_num = {n: a for a, n in self._alias_nums.items()}
            address = by_num.get(int(body)) or "0x" + int(body).to_bytes(20, "big").hex()
        else:
            raise StandinError(400, "Invalid parameter: idOrAliasOrEvmAddress")
        if not self._exists(address):
            raise StandinError(404, "Not found")
        return 200, {**self._account_json(address, _ts(self.block(self.head())["to"])),
                     "transactions": [],
                     "links": {"next": None}}, {}

    def _exists(self, address: str) -> bool:
        if address.lower() in self._alias_nums:
            return True
        checksummed = Web3.to_checksum_address(address)
        seen = bool(self.w3.eth.get_transaction_count(checksummed)
                    or self.w3.eth.get_balance(checksummed) or self.w3.eth.get_code(checksummed))
        if seen:
            self.account_num(address)
        return seen

    def _account_json(self, address: str, balance_at: str) -> Json:
        num = self.account_num(address)
        long_zero = num < FIRST_ALIAS_NUM and address.lower() not in self._alias_nums
        return {"account": f"0.0.{num}", "alias": None, "auto_renew_period": 7776000,
                "balance": {"timestamp": balance_at, "balance": 0,
                            "tokens": []},
                "created_timestamp": _ts(self.block(0)["from"]), "decline_reward": False,
                "deleted": False, "ethereum_nonce": 0,
                "evm_address": address.lower() if not long_zero
                else "0x" + num.to_bytes(20, "big").hex(),
                "expiry_timestamp": None, "key": None, "max_automatic_token_associations": -1,
                "memo": "", "pending_reward": 0, "receiver_sig_required": False,
                "staked_account_id": None, "staked_node_id": None, "stake_period_start": None}

    def _token_at(self, token_id: str) -> tuple[int, _Token]:
        num = _num(token_id) if re.fullmatch(r"(0\.0\.)?\d+", token_id) else -1
        token = self._tokens.get(num)
        if token is None:
            raise StandinError(404, "Not found")
        return num, token

    def _token(self, token_id: str, *, query: dict[str, list[str]],
               fault: Fault | None) -> Answer:
        num, token = self._token_at(token_id)
        at = _timestamp_bounds(query.get("timestamp", []))[1]
        block = self.block_at(at[0]) if at else self.head()
        contract = self.w3.eth.contract(address=Web3.to_checksum_address(token.address), abi=_ERC20)
        supply = int(contract.functions.totalSupply().call(block_identifier=block)) \
            if block >= 0 else 0
        supply += 1 if any(f.kind == "supply" and f.match in token_id for f in self.faults) else 0
        return 200, {"token_id": f"0.0.{num}", "type": token.kind,
                     "name": contract.functions.name().call(),
                     "symbol": contract.functions.symbol().call(),
                     "decimals": str(contract.functions.decimals().call()),
                     "total_supply": str(supply), "initial_supply": "0",
                     "treasury_account_id": self.account_id(self.w3.eth.accounts[0]),
                     "supply_type": "INFINITE", "max_supply": "0", "deleted": False,
                     "freeze_default": False, "pause_status": "NOT_APPLICABLE",
                     "created_timestamp": _ts(self.block(0)["from"]),
                     "modified_timestamp": _ts(self.block(max(block, 0))["from"]),
                     "memo": "", "custom_fees": {"created_timestamp": None, "fixed_fees": [],
                                                 "fractional_fees": []}}, {}

    def _balances(self, token_id: str, *, query: dict[str, list[str]],
                  fault: Fault | None) -> Answer:
        _, token = self._token_at(token_id)
        at = _timestamp_bounds(query.get("timestamp", []))[1]
        block = self.block_at(at[0]) if at else self.head()
        balances: dict[str, int] = {}
        if block >= 0:
            raw = self.w3.provider.make_request("eth_getLogs", [{  # type: ignore[arg-type]
                "address": token.address, "fromBlock": "0x0", "toBlock": hex(block),
                "topics": [TRANSFER]}])["result"]
            for log in raw:
                sender, recipient = ("0x" + t[-40:] for t in log["topics"][1:3])
                amount = int(log["data"], 16)
                balances[sender] = balances.get(sender, 0) - amount
                balances[recipient] = balances.get(recipient, 0) + amount
        balances.pop("0x" + "00" * 20, None)  # mints and burns
        decimals = self.w3.eth.contract(address=Web3.to_checksum_address(token.address),
                                        abi=_ERC20).functions.decimals().call()
        rows = sorted(({"account": self.account_id(a), "balance": b, "decimals": decimals}
                       for a, b in balances.items() if b), key=lambda r: _num(r["account"]))
        after = [_num(v.removeprefix("gt:")) for v in query.get("account.id", [])
                 if v.startswith("gt:")]
        if after:
            rows = [r for r in rows if _num(r["account"]) > after[-1]]
        limit = _limit(query)
        page = rows[:limit]
        next_link = None
        if len(rows) > limit:
            params = [("limit", str(limit)), ("order", "asc"),
                      ("account.id", f"gt:{page[-1]['account']}")]
            params += [("timestamp", v) for v in query.get("timestamp", [])]
            next_link = f"/api/v1/tokens/{token_id}/balances?{urlencode(params)}"
        snapshot = _ts(self.block(block)["to"]) if block >= 0 else None
        return 200, {"timestamp": snapshot, "balances": page, "links": {"next": next_link}}, {}


_ERC20 = [{"type": "function", "name": n, "inputs": [], "stateMutability": "view",
           "outputs": [{"name": "", "type": t}]}
          for n, t in (("totalSupply", "uint256"), ("decimals", "uint8"), ("name", "string"),
                       ("symbol", "string"))]


def _error(message: str) -> Json:
    return {"_status": {"messages": [{"message": message}]}}


def _hedera_hash(eth_hash: str) -> str:
    """48 bytes whose first 32 are the EVM hash (what the relay's truncation gives back)."""
    raw = bytes.fromhex(eth_hash[2:])
    return "0x" + (raw + keccak(raw)[:16]).hex()


def _ts(ns: int) -> str:
    return f"{ns // 10**9}.{ns % 10**9:09d}"


def _ns(text: str) -> int:
    seconds, _, nanos = text.partition(".")
    return int(seconds) * 10**9 + int(nanos.ljust(9, "0") or 0)


def _num(entity: str) -> int:
    return int(entity.rsplit(".", 1)[-1])


def _word(topic: str) -> str:
    return "0x" + topic.removeprefix("0x").lower().rjust(64, "0")


def _limit(query: dict[str, list[str]]) -> int:
    value = query.get("limit", ["25"])[-1]
    if not value.isdigit() or not 1 <= int(value) <= MAX_LIMIT:
        raise StandinError(400, "Invalid parameter: limit")
    return int(value)


Bound = tuple[int, bool]  # (nanoseconds, inclusive)


def _timestamp_bounds(values: list[str]) -> tuple[Bound | None, Bound | None]:
    lo: Bound | None = None
    hi: Bound | None = None
    for value in values:
        op, _, stamp = value.rpartition(":")
        if not re.fullmatch(r"\d{1,10}(\.\d{1,9})?", stamp):
            raise StandinError(400, "Invalid parameter: timestamp")
        ns = _ns(stamp)
        if op in ("", "eq"):
            lo, hi = (ns, True), (ns, True)
        elif op in ("gt", "gte"):
            lo = (ns, op == "gte")
        elif op in ("lt", "lte"):
            hi = (ns, op == "lte")
        else:
            raise StandinError(400, "Invalid parameter: timestamp")
    return lo, hi


def _within(row: Json, lo: Bound | None, hi: Bound | None, after_index: list[str]) -> bool:
    """The row's (timestamp, index) inside the bounds; with `index=gt:i`, the lower timestamp
    bound and the index read together as "after (T, i)" (the node's paging)."""
    ns, index = _ns(row["timestamp"]), int(row["index"])
    if hi and (ns > hi[0] or (ns == hi[0] and not hi[1])):
        return False
    if lo:
        if after_index:
            op, _, value = after_index[-1].rpartition(":")
            if ns == lo[0]:
                return index > int(value) if op == "gt" else index >= int(value)
        if ns < lo[0] or (ns == lo[0] and not lo[1]):
            return False
    return True


def _order_key(row: Json) -> tuple[int, int]:
    return _ns(row["timestamp"]), row["index"]
