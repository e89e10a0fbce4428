"""What the API process is wired to: the chain's token reader, the RQ queue that execution
dispatches to, and the ingestion cursors /metrics compares with the chain head."""

from __future__ import annotations

from datetime import timedelta

from litestar.testing import TestClient
from rq import Queue

from api.app import Wiring, create_app
from api.ingestion import IngestionLag
from api.reads import ReadModels
from app.jobs import job_id
from devtools import payout_story as story
from domain import accounts
from domain.chain_facts import UnreadableLog
from domain.planning import GasModel
from projections.store import APPLICATION
from tests.api.conftest import auth
from tests.api.test_metrics import families

SMALL = GasModel(per_leaf=1_000_000, budget=12_000_000)  # 11 leaves per batch


def committed(ledger, holders=30):
    did = story.snapshotted(ledger, story.import_asset(ledger), holders, gas_model=SMALL)
    ledger.commit_distribution(did, tx_hash="0x" + "cc" * 32,
                               claim_deadline=story.RECORD + timedelta(days=90),
                               actor="approver")
    return did


def test_execute_queues_one_job_per_batch(client, keys, ledger, queue: Queue):
    # A committed 30-holder distribution: three batches of leaves (one holder is skipped).
    did = committed(ledger)
    batches = [b for b in ledger.batches(did) if b.leaf_count]
    # The operator starts execution: the ledger records it and every batch is queued.
    r = client.post(f"/distributions/{did}/execute", headers=auth(keys["operator"]))
    assert r.status_code == 200, r.text
    assert r.json()["batches_queued"] == len(batches) == 3
    assert set(queue.job_ids) == {job_id(b.id) for b in batches}
    assert ledger.get_distribution(did).status == "EXECUTING"
    # Starting again is refused by the ledger, and queues nothing more.
    again = client.post(f"/distributions/{did}/execute", headers=auth(keys["operator"]))
    assert again.status_code == 409 and len(queue.job_ids) == 3


def test_without_a_queue_execute_is_503_and_records_nothing(
        ledger, database_url, schema, chain, projector, keys):
    did = committed(ledger)
    app = create_app(Wiring(ledger=ledger, reads=ReadModels(database_url, schema),
                            token_reader=chain.reader))
    with TestClient(app) as client:
        r = client.post(f"/distributions/{did}/execute", headers=auth(keys["operator"]))
    assert r.status_code == 503
    assert r.json()["type"] == "/problems/queue-unavailable"
    assert ledger.get_distribution(did).status == "COMMITTED"


def test_an_address_that_is_no_security_token_is_a_422(client, keys, chain):
    operator = auth(keys["operator"])
    usd = "0x" + "b2" * 20
    for address, error in (("0x" + "00" * 19 + "01", "UnknownTokenError"),  # no code there
                           (chain.token, None)):
        r = client.post("/assets/import", json={"token": address, "payment_token": usd,
                                                "payment_decimals": 6}, headers=operator)
        if error is None:
            assert r.status_code == 201, r.text
        else:
            assert r.status_code == 422, r.text
            assert r.json()["type"] == "/problems/token-unreadable"
            assert r.json()["title"] == error
    # Another chain than the API reads is refused before the chain is asked.
    r = client.post("/assets/import", json={"token": chain.token, "payment_token": usd,
                                            "payment_decimals": 6, "chain_id": 1},
                    headers=operator)
    assert r.status_code == 422 and r.json()["title"] == "AssetOnOtherChainError"


def test_metrics_report_each_vaults_ingestion_lag(ledger, database_url, schema, chain,
                                                  projector, keys):
    # An asset paying through a vault on the API's chain, ingested up to block 1.
    w3 = chain.reader.w3
    chain_id = int(w3.eth.chain_id)
    ledger.import_asset(chain_id=chain_id, token_address=chain.token, name="Acme", symbol="A",
                        decimals=2, kind="EQUITY", payment_token="0x" + "b2" * 20,
                        payment_decimals=6, vault_address=story.VAULT, actor="importer")
    position = story.Chain(ledger, chain_id, story.VAULT).mine([  # one log it cannot read
        UnreadableLog(1, "0x" + "ab" * 32, 0, story.VAULT, "undecodable: test")])
    w3.provider.ethereum_tester.mine_blocks(3)  # the chain moves on
    for runner in projector:  # the cursor's read model has it
        runner.store.wait(APPLICATION, position, timeout=10)
    reads = ReadModels(database_url, schema)
    app = create_app(Wiring(ledger=ledger, reads=reads, token_reader=chain.reader,
                            ingestion_lag=IngestionLag(reads, w3)))
    with TestClient(app) as client:
        client.get(f"/assets?wait_for_position={position}", headers=auth(keys["viewer"]))
        text = client.get("/metrics", headers=auth(keys["viewer"])).text
    lag = int(w3.eth.block_number) - 1
    assert lag >= 3
    got = families(text)
    assert got["mass_payout_ingestion_lag_blocks"][
        (("vault", accounts.canonical(story.VAULT)),)] == lag, text
    assert got["mass_payout_ingestion_unreadable_logs"][(("contract", story.VAULT),)] == 1, text
