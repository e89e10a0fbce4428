"""The Mirror Node fallback for a TransactionId, against a STAND-IN Mirror Node answering in
the published OpenAPI shapes (httpx's MockTransport): the real one cannot be reached here."""

from __future__ import annotations

import httpx
import pytest

from chain.hedera.errors import MirrorNodeInconsistent
from chain.hedera.hts_history import MirrorTransactionHistory, mirror_transaction_id
from chain.hedera.mirror_client import MirrorNodeClient


def _mirror(transactions: dict[str, list[dict[str, object]]]) -> MirrorNodeClient:
    def answer(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/api/v1/blocks":
            return httpx.Response(200, json={"blocks": [
                {"number": 9, "timestamp": {"from": "1700000099.000000000",
                                            "to": "1700000100.500000000"}}],
                "links": {"next": None}})
        rows = transactions.get(path.rsplit("/", 1)[1])
        if rows is None:
            return httpx.Response(404, json={"_status": {"messages": [{"message": "Not found"}]}})
        return httpx.Response(200, json={"transactions": rows})
    return MirrorNodeClient("http://mirror.standin", sleep=lambda _s: None,
                            http=httpx.Client(transport=httpx.MockTransport(answer)))


def test_the_parent_rows_result_and_the_ingestion_horizon_are_read():
    tid = "0.0.1002@1700000000.000000042"
    assert mirror_transaction_id(tid) == "0.0.1002-1700000000-000000042"
    history = MirrorTransactionHistory(_mirror({"0.0.1002-1700000000-000000042": [
        {"nonce": 0, "scheduled": False, "result": "SUCCESS", "name": "CRYPTOTRANSFER"},
        {"nonce": 1, "scheduled": False, "result": "SUCCESS", "name": "TOKENASSOCIATE"},
    ]}))
    answer = history.lookup(tid)
    assert (answer.status, answer.indexed_until) == ("SUCCESS", 1700000100.5)
    # unknown to the Mirror Node: no status, but the horizon it has ingested up to
    missing = history.lookup("0.0.1002@1700000000.000000043")
    assert (missing.status, missing.indexed_until) == (None, 1700000100.5)


def test_an_answer_without_a_single_parent_is_not_trusted():
    history = MirrorTransactionHistory(_mirror({"0.0.5-1-000000001": [
        {"nonce": 1, "scheduled": False, "result": "SUCCESS"}]}))
    with pytest.raises(MirrorNodeInconsistent):
        history.lookup("0.0.5@1.1")


def test_an_ecdsa_holder_spelled_by_its_alias_is_paid_to_the_account_the_mirror_names():
    from app.hts_executor import mirror_resolved_account
    from chain.hedera.ids import AccountResolver
    alias = "0x" + "ab" * 20

    def answer(request: httpx.Request) -> httpx.Response:
        assert request.url.path == f"/api/v1/accounts/{alias}"
        return httpx.Response(200, json={"account": "0.0.4321", "evm_address": alias})
    client = MirrorNodeClient("http://mirror.standin", sleep=lambda _s: None,
                              http=httpx.Client(transport=httpx.MockTransport(answer)))
    resolve = mirror_resolved_account(AccountResolver(client))
    assert resolve(alias) == (0, 0, 4321)
    assert resolve("0x" + "00" * 18 + "0457") == (0, 0, 0x457)  # long-zero: no request
    assert client.requests == 1
