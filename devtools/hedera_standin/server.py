"""The stand-in served over gRPC with the services and method names the SDK calls, from the
protobufs that ship with hiero-sdk-python, so `Client.for_network({addr: 0.0.3})` talks to it
exactly as it talks to a consensus node (plaintext: a custom network has TLS off).

Faults a test can inject, the ones the rail must survive:
- `busy(n)`: the next n transactions are answered BUSY without executing (throttling).
- `drop_responses(n)`: the next n transactions execute, then the answer is lost (the client
  sees UNAVAILABLE), as when a connection dies after the node accepted the transaction.
"""

from __future__ import annotations

import threading
from concurrent import futures
from types import TracebackType
from typing import Any

import grpc
from hiero_sdk_python.hapi.services import (
    consensus_service_pb2_grpc,
    crypto_service_pb2_grpc,
    query_pb2,
    response_pb2,
    token_service_pb2_grpc,
    transaction_pb2,
    transaction_response_pb2,
)
from hiero_sdk_python.hapi.services import response_code_pb2 as codes

from devtools.hedera_standin.node import StandinNode
from devtools.hedera_standin.state import NODE_ACCOUNT, Account, Key, Ledger, Relationship, Token


class _Faults:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.busy = 0
        self.drop = 0

    def take(self, name: str) -> bool:
        with self.lock:
            left = getattr(self, name)
            if left:
                setattr(self, name, left - 1)
            return bool(left)


def _transaction_rpc(node: StandinNode, faults: _Faults) -> Any:
    def rpc(request: transaction_pb2.Transaction, context: grpc.ServicerContext,
            ) -> transaction_response_pb2.TransactionResponse:
        if faults.take("busy"):
            return transaction_response_pb2.TransactionResponse(
                nodeTransactionPrecheckCode=codes.BUSY)
        answer = node.submit(request)
        if faults.take("drop"):
            context.abort(grpc.StatusCode.UNAVAILABLE, "stand-in: response dropped")
        return answer
    return rpc


def _query_rpc(node: StandinNode) -> Any:
    def rpc(request: query_pb2.Query, context: grpc.ServicerContext) -> response_pb2.Response:
        return node.query(request)
    return rpc


def _servicer(base: type, node: StandinNode, faults: _Faults, transactions: tuple[str, ...],
              queries: tuple[str, ...]) -> Any:
    """A servicer class whose listed methods answer; the others keep the generated
    UNIMPLEMENTED answer, which is what the network does for a service it does not offer."""
    methods: dict[str, Any] = {name: staticmethod(_transaction_rpc(node, faults))
                               for name in transactions}
    methods.update({name: staticmethod(_query_rpc(node)) for name in queries})
    return type(f"Standin{base.__name__}", (base,), methods)()


class StandinNetwork:
    """A one-node stand-in Hedera network on 127.0.0.1:<random port>, with a test API for
    the state a real network would get from other transactions (accounts, tokens, flags)."""

    def __init__(self) -> None:
        self.ledger = Ledger()
        self.node = StandinNode(self.ledger)
        self.faults = _Faults()
        self.ledger.accounts[NODE_ACCOUNT] = Account(Key("ed25519", b"\x00" * 32), 0)
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        crypto_service_pb2_grpc.add_CryptoServiceServicer_to_server(_servicer(
            crypto_service_pb2_grpc.CryptoServiceServicer, self.node, self.faults,
            ("cryptoTransfer",), ("getTransactionReceipts", "getTxRecordByTxID",
                                  "cryptoGetBalance")), self._server)
        token_service_pb2_grpc.add_TokenServiceServicer_to_server(_servicer(
            token_service_pb2_grpc.TokenServiceServicer, self.node, self.faults,
            ("associateTokens", "airdropTokens", "claimAirdrop", "cancelAirdrop"), ()),
            self._server)
        consensus_service_pb2_grpc.add_ConsensusServiceServicer_to_server(_servicer(
            consensus_service_pb2_grpc.ConsensusServiceServicer, self.node, self.faults,
            ("createTopic", "submitMessage"), ()), self._server)
        port = self._server.add_insecure_port("127.0.0.1:0")
        self.address = f"127.0.0.1:{port}"

    def start(self) -> StandinNetwork:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop(grace=None)

    def __enter__(self) -> StandinNetwork:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # --- test API: what other transactions would have set up -----------------------------

    def create_account(self, key_kind: str, public_key_raw: bytes, tinybars: int) -> int:
        with self.ledger.lock:
            number = self.ledger.new_entity_number()
            self.ledger.accounts[number] = Account(Key(key_kind, public_key_raw), tinybars)
            return number

    def create_token(self, treasury: int, supply: int, *, decimals: int = 2,
                     kyc_required: bool = False) -> int:
        with self.ledger.lock:
            number = self.ledger.new_entity_number()
            self.ledger.tokens[number] = Token(treasury, decimals, kyc_required)
            self.ledger.relationships[(treasury, number)] = Relationship(balance=supply)
            return number

    def associate(self, account: int, token: int, *, kyc_granted: bool = True) -> None:
        with self.ledger.lock:
            self.ledger.relationships[(account, token)] = Relationship(kyc_granted=kyc_granted)

    def set_frozen(self, account: int, token: int, frozen: bool) -> None:
        with self.ledger.lock:
            self.ledger.relationships[(account, token)].frozen = frozen

    def set_kyc(self, account: int, token: int, granted: bool) -> None:
        with self.ledger.lock:
            self.ledger.relationships[(account, token)].kyc_granted = granted

    def delete_account(self, account: int) -> None:
        with self.ledger.lock:
            self.ledger.accounts[account].deleted = True

    def token_balance(self, account: int, token: int) -> int | None:
        with self.ledger.lock:
            rel = self.ledger.relationship(account, token)
            return None if rel is None else rel.balance

    def set_tinybars(self, account: int, tinybars: int) -> None:
        """An account's hbar balance, as a transfer from elsewhere would leave it."""
        with self.ledger.lock:
            self.ledger.accounts[account].tinybars = tinybars

    def tinybars(self, account: int) -> int:
        with self.ledger.lock:
            return self.ledger.accounts[account].tinybars

    def busy(self, count: int = 1) -> None:
        with self.faults.lock:
            self.faults.busy += count

    def drop_responses(self, count: int = 1) -> None:
        with self.faults.lock:
            self.faults.drop += count
