"""A Mirror Node STAND-IN over the stand-in Hedera network (devtools.hedera_standin): the REST
resources the HTS rail and its demo read, in the Mirror Node's published shapes (OpenAPI
0.141.0), answered from the network's in-memory ledger:

- `/api/v1/blocks?order=desc&limit=1`: one "block" whose `timestamp.to` is consensus now less
  `lag_seconds` (how far the Mirror Node has ingested: what lets the recovery prove a negative);
- `/api/v1/transactions/{id}` and `/api/v1/transactions?account.id=…`: executed transactions,
  with `result`, `name`, `token_transfers` and `transfers` (only those up to the horizon);
- `/api/v1/tokens/{id}` and `/api/v1/tokens/{id}/balances` (current balances: the stand-in
  keeps no history, so a snapshot is "now"; `account.id` filters one account);
- `/api/v1/accounts` and `/api/v1/accounts/{id}` (long-zero EVM addresses);
- `/api/v1/accounts/{id}/airdrops/outstanding?token.id=…`: the sender's pending airdrops
  (HIP-904) not yet claimed or cancelled, as the network holds them now;
- `/api/v1/accounts/{id}/tokens?token.id=…`: the account's token relationships (association,
  freeze and KYC status), as the network holds them now;
- `/api/v1/topics/messages/{timestamp}` and `/api/v1/topics/{id}/messages/{sequence}`: one HCS
  message (only up to the horizon), with its sequence number, payer and running hash.

A stand-in, not the Mirror Node: one process's memory, no pagination beyond `limit`+`next`,
no record files or hashes.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from hiero_sdk_python import ResponseCode

from devtools.hedera_standin.server import StandinNetwork
from devtools.hedera_standin.state import Executed

Json = dict[str, Any]
MAX_LIMIT = 100
_KINDS = {"cryptoTransfer": "CRYPTOTRANSFER", "tokenAirdrop": "TOKENAIRDROP",
          "consensusSubmitMessage": "CONSENSUSSUBMITMESSAGE",
          "consensusCreateTopic": "CONSENSUSCREATETOPIC", "tokenClaimAirdrop": "TOKENCLAIMAIRDROP",
          "tokenCancelAirdrop": "TOKENCANCELAIRDROP", "tokenAssociate": "TOKENASSOCIATE"}


class NotFoundError(Exception):
    pass


def _ts(seconds: float) -> str:
    ns = int(seconds * 10**9)
    return f"{ns // 10**9}.{ns % 10**9:09d}"


def _ns(stamp: str) -> int:
    seconds, _, nanos = stamp.partition(".")
    return int(seconds) * 10**9 + int(nanos.ljust(9, "0")[:9] or 0)


def _num(entity: str) -> int:
    return int(entity.rsplit(".", 1)[1]) if entity.count(".") == 2 else int(entity, 16) \
        if entity.startswith("0x") else int(entity)


class HederaMirrorStandin:
    def __init__(self, net: StandinNetwork) -> None:
        self.net = net
        self.lag_seconds = 0.0
        self._server: ThreadingHTTPServer | None = None
        self.routes: list[tuple[re.Pattern[str], Callable[..., Json]]] = [
            (re.compile(r"/api/v1/blocks"), self._blocks),
            (re.compile(r"/api/v1/transactions"), self._transactions),
            (re.compile(r"/api/v1/transactions/([^/]+)"), self._transaction),
            (re.compile(r"/api/v1/tokens/([^/]+)"), self._token),
            (re.compile(r"/api/v1/tokens/([^/]+)/balances"), self._balances),
            (re.compile(r"/api/v1/accounts"), self._accounts),
            (re.compile(r"/api/v1/accounts/([^/]+)"), self._account),
            (re.compile(r"/api/v1/accounts/([^/]+)/airdrops/outstanding"), self._outstanding),
            (re.compile(r"/api/v1/accounts/([^/]+)/tokens"), self._relationships),
            (re.compile(r"/api/v1/topics/messages/([^/]+)"), self._topic_message_at),
            (re.compile(r"/api/v1/topics/([^/]+)/messages/(\d+)"), self._topic_message),
        ]

    # --- server ---------------------------------------------------------------------------

    def start(self) -> str:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            # keep-alive, as the real one: a worker asks a batch's nine relationships at once
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body are two writes

            def do_GET(self) -> None:
                status, body = standin.answer(self.path)
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True,
                         name="hedera-mirror-standin").start()
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

    def answer(self, target: str) -> tuple[int, Json]:
        parts = urlsplit(target)
        query = parse_qs(parts.query, keep_blank_values=True)
        for pattern, route in self.routes:
            match = pattern.fullmatch(parts.path)
            if match:
                try:
                    return 200, route(*match.groups(), query=query)
                except NotFoundError as err:
                    return 404, {"_status": {"messages": [{"message": str(err) or "Not found"}]}}
                except (ValueError, KeyError) as err:
                    return 400, {"_status": {"messages": [{"message": f"Invalid parameter:"
                                                                      f" {err}"}]}}
        return 404, {"_status": {"messages": [{"message": "Not found"}]}}

    # --- resources ------------------------------------------------------------------------

    def horizon(self) -> float:
        return self.net.ledger.clock.now() - self.lag_seconds

    def _blocks(self, *, query: dict[str, list[str]]) -> Json:
        to = self.horizon()
        with self.net.ledger.lock:
            number = len(self.net.ledger.executed)
        return {"blocks": [{"number": number, "timestamp": {"from": _ts(to - 2), "to": _ts(to)}}],
                "links": {"next": None}}

    def _executed(self) -> list[Executed]:
        horizon = self.horizon()
        with self.net.ledger.lock:
            rows = [e for e in self.net.ledger.executed.values()
                    if e.consensus_time <= horizon]
        return sorted(rows, key=lambda e: e.consensus_time)

    def _transaction(self, transaction_id: str, *, query: dict[str, list[str]]) -> Json:
        payer, seconds, nanos = transaction_id.split("-")
        for e in self._executed():
            tid = e.record.transactionID
            if (tid.accountID.accountNum, tid.transactionValidStart.seconds,
                    tid.transactionValidStart.nanos) == (_num(payer), int(seconds), int(nanos)):
                return {"transactions": [self._row(e)]}
        raise NotFoundError("Not found")

    def _transactions(self, *, query: dict[str, list[str]]) -> Json:
        account = _num(query["account.id"][0]) if "account.id" in query else None
        limit = min(int(query.get("limit", ["25"])[0]), MAX_LIMIT)
        after = next((_ns(v[3:]) for v in query.get("timestamp", []) if v.startswith("gt:")),
                     None)
        rows = []
        for e in self._executed():
            row = self._row(e)
            if after is not None and _ns(row["consensus_timestamp"]) <= after:
                continue
            if account is not None and not self._involves(e, account):
                continue
            rows.append(row)
            if len(rows) == limit:
                break
        following = None
        if len(rows) == limit:
            params = {**({"account.id": f"0.0.{account}"} if account is not None else {}),
                      "order": "asc", "limit": limit,
                      "timestamp": f"gt:{rows[-1]['consensus_timestamp']}"}
            following = f"/api/v1/transactions?{urlencode(params)}"
        return {"transactions": rows, "links": {"next": following}}

    @staticmethod
    def _involves(e: Executed, account: int) -> bool:
        record = e.record
        return record.transactionID.accountID.accountNum == account or any(
            leg.accountID.accountNum == account
            for tokens in record.tokenTransferLists for leg in tokens.transfers)

    @staticmethod
    def _row(e: Executed) -> Json:
        record = e.record
        tid = record.transactionID
        start = tid.transactionValidStart
        payer = f"0.0.{tid.accountID.accountNum}"
        return {
            "transaction_id": f"{payer}-{start.seconds}-{start.nanos:09d}",
            "consensus_timestamp": _ts(e.consensus_time),
            "result": ResponseCode(record.receipt.status).name,
            "name": _KINDS.get(_body_kind(e), "UNKNOWN"),
            "nonce": 0, "scheduled": False, "charged_tx_fee": record.transactionFee,
            "memo_base64": "",
            "transfers": [{"account": f"0.0.{leg.accountID.accountNum}", "amount": leg.amount,
                           "is_approval": False}
                          for leg in record.transferList.accountAmounts],
            "token_transfers": [{"token_id": f"0.0.{tokens.token.tokenNum}",
                                 "account": f"0.0.{leg.accountID.accountNum}",
                                 "amount": leg.amount, "is_approval": False}
                                for tokens in record.tokenTransferLists
                                for leg in tokens.transfers],
        }

    def _token(self, token_id: str, *, query: dict[str, list[str]]) -> Json:
        number = _num(token_id)
        with self.net.ledger.lock:
            token = self.net.ledger.tokens.get(number)
            if token is None:
                raise NotFoundError("Not found")
            supply = sum(rel.balance for (_, t), rel in self.net.ledger.relationships.items()
                         if t == number)
        return {"token_id": f"0.0.{number}", "type": "FUNGIBLE_COMMON",
                "decimals": str(token.decimals), "total_supply": str(supply),
                "treasury_account_id": f"0.0.{token.treasury}"}

    def _balances(self, token_id: str, *, query: dict[str, list[str]]) -> Json:
        number = _num(token_id)
        only = _num(query["account.id"][0]) if "account.id" in query else None
        with self.net.ledger.lock:
            if number not in self.net.ledger.tokens:
                raise NotFoundError("Not found")
            decimals = self.net.ledger.tokens[number].decimals
            rows = sorted((account, rel.balance)
                          for (account, t), rel in self.net.ledger.relationships.items()
                          if t == number and rel.balance > 0 and only in (None, account))
        return {"timestamp": _ts(self.horizon()),
                "balances": [{"account": f"0.0.{a}", "balance": b, "decimals": decimals}
                             for a, b in rows],
                "links": {"next": None}}

    def _account_row(self, number: int) -> Json:
        with self.net.ledger.lock:
            if number not in self.net.ledger.accounts:
                raise NotFoundError("Not found")
        return {"account": f"0.0.{number}", "evm_address": "0x" + number.to_bytes(20, "big").hex()}

    def _account(self, ref: str, *, query: dict[str, list[str]]) -> Json:
        return self._account_row(_num(ref))

    def _outstanding(self, ref: str, *, query: dict[str, list[str]]) -> Json:
        sender = _num(ref)
        tokens = {_num(t.removeprefix("eq:")) for t in query.get("token.id", [])}
        with self.net.ledger.lock:
            pending = sorted(self.net.ledger.pending_airdrops.items())
        return {"airdrops": [{"amount": amount, "receiver_id": f"0.0.{receiver}",
                              "sender_id": f"0.0.{sender}", "serial_number": None,
                              "token_id": f"0.0.{token}"}
                             for (s, receiver, token), amount in pending
                             if s == sender and (not tokens or token in tokens)],
                "links": {"next": None}}

    def _relationships(self, ref: str, *, query: dict[str, list[str]]) -> Json:
        account = _num(ref)
        tokens = {_num(t.removeprefix("eq:")) for t in query.get("token.id", [])}
        ledger = self.net.ledger
        with ledger.lock:
            if account not in ledger.accounts:
                raise NotFoundError("Not found")
            pairs = ([(t, ledger.relationship(account, t)) for t in sorted(tokens)] if tokens
                     else sorted((t, rel) for (a, t), rel in ledger.relationships.items()
                                 if a == account))
            rows = [(token, rel, ledger.tokens[token]) for token, rel in pairs
                    if rel is not None]
        return {"tokens": [{"automatic_association": False, "balance": rel.balance,
                            "created_timestamp": None, "decimals": info.decimals,
                            "freeze_status": "FROZEN" if rel.frozen else "UNFROZEN",
                            "kyc_status": ("NOT_APPLICABLE" if not info.kyc_required else
                                           "GRANTED" if rel.kyc_granted else "REVOKED"),
                            "token_id": f"0.0.{token}"} for token, rel, info in rows],
                "links": {"next": None}}

    def _topic_message_at(self, timestamp: str, *, query: dict[str, list[str]]) -> Json:
        at = _ns(timestamp)
        with self.net.ledger.lock:
            for number, topic in self.net.ledger.topics.items():
                for i, time in enumerate(topic.times):
                    if int(time * 10**9) == at:
                        return self._message_row(number, i)
        raise NotFoundError("Not found")

    def _topic_message(self, topic_id: str, sequence: str, *,
                       query: dict[str, list[str]]) -> Json:
        with self.net.ledger.lock:
            topic = self.net.ledger.topics.get(_num(topic_id))
            if topic is None or not 0 < int(sequence) <= len(topic.messages):
                raise NotFoundError("Not found")
            return self._message_row(_num(topic_id), int(sequence) - 1)

    def _message_row(self, number: int, i: int) -> Json:
        topic = self.net.ledger.topics[number]
        if topic.times[i] > self.horizon():
            raise NotFoundError("Not found")  # not ingested yet
        payer = next((e.record.transactionID.accountID.accountNum
                      for e in self.net.ledger.executed.values()
                      if e.consensus_time == topic.times[i]), 0)
        return {"consensus_timestamp": _ts(topic.times[i]), "topic_id": f"0.0.{number}",
                "message": base64.b64encode(topic.messages[i]).decode(),
                "payer_account_id": f"0.0.{payer}",
                "running_hash": base64.b64encode(topic.running_hashes[i]).decode(),
                "running_hash_version": 3, "sequence_number": i + 1, "chunk_info": None}

    def _accounts(self, *, query: dict[str, list[str]]) -> Json:
        rows = []
        for ref in query.get("account.id", []):
            try:
                rows.append(self._account_row(_num(ref)))
            except NotFoundError:
                continue
        return {"accounts": rows, "links": {"next": None}}


def _body_kind(e: Executed) -> str:
    """The stand-in keeps the record, not the body: the kind shows in what it changed."""
    record = e.record
    if record.receipt.topicSequenceNumber:
        return "consensusSubmitMessage"
    if record.receipt.topicID.topicNum:
        return "consensusCreateTopic"
    if len(record.new_pending_airdrops):
        return "tokenAirdrop"
    return "cryptoTransfer"
