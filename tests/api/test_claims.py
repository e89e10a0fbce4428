"""Claims: a holder whose push failed gets its leaf, proof and calldata (API), and the issuer
exports every unpaid claim (CLI). The proof is checked the way the vault checks it
(OpenZeppelin `MerkleProof.verify` over the committed root); the calldata decodes against the
vault's own ABI."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from eth_abi.abi import decode
from typer.testing import CliRunner
from web3 import Web3

from app.commands import head
from chain.contracts import load_artifact
from chain.encoding import onchain_id
from devtools import payout_story as story
from domain.merkle import hash_pair, leaf_hash
from mass_payout.cli import app as cli
from tests.api.conftest import auth
from tests.projections.stories import SMALL, Vault

VAULT = "0x" + "ee" * 20


def verifies(root: str, index: int, account: str, amount: int, proof: list[str]) -> bool:
    node = leaf_hash(index, account, amount)
    for sibling in proof:
        node = hash_pair(node, bytes.fromhex(sibling[2:]))
    return "0x" + node.hex() == root


@pytest.fixture
def partly_failed(ledger):
    """24 holders (one skipped), committed with a deadline a month ahead; 3 pushes fail and
    the leaves of the last batch are never pushed."""
    asset = story.import_asset(ledger)
    ledger.link_vault(asset, VAULT, "importer")
    did = story.snapshotted(ledger, asset, 24, key="claims", gas_model=SMALL)
    ledger.commit_distribution(did, tx_hash="0x" + "cc" * 32,
                               claim_deadline=datetime.now(UTC) + timedelta(days=30),
                               actor="approver")
    ledger.start_execution(did, "operator")
    Vault(ledger).pay(did, range(22), failing=[2, 9, 15])
    return did


def test_a_holder_whose_push_failed_gets_a_claim_that_proves_its_leaf(client, keys, ledger,
                                                                  partly_failed, projector):
    did = partly_failed
    distribution = ledger.get_distribution(did)
    leaf = ledger.get_batch(did, distribution.batch_of_leaf(9)).leaves[9]
    wait = f"?wait_for_position={head(ledger)}"
    # The holder (any case of its address) asks for its claim
    r = client.get(f"/distributions/{did}/claims/{leaf.account.lower()}{wait}",
                   headers=auth(keys["viewer"]))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["leaf"] == {"index": 9, "account": leaf.account, "amount": str(leaf.net)}
    assert body["status"] == "FAILED" and body["to"] == Web3.to_checksum_address(VAULT)
    assert body["chain_id"] == story.CHAIN_ID and body["merkle_root"] == distribution.merkle_root
    # The proof verifies against the committed root, as MerkleProof.verify does on-chain
    assert verifies(distribution.merkle_root, 9, leaf.account, leaf.net, body["proof"])
    # The calldata is the vault ABI's claim(...) with exactly these arguments
    abi = next(f for f in load_artifact("PayoutVault").abi
               if f.get("name") == "claim" and f["type"] == "function")
    selector = Web3.keccak(text="claim(" + ",".join(i["type"] for i in abi["inputs"]) + ")")[:4]
    data = bytes.fromhex(body["data"][2:])
    assert data[:4] == selector
    args = decode([i["type"] for i in abi["inputs"]], data[4:])
    assert args[0] == onchain_id(did) and args[1:4] == (9, leaf.account.lower(), leaf.net)
    assert ["0x" + p.hex() for p in args[4]] == body["proof"]
    # A leaf never pushed is claimable too (PENDING)
    last = ledger.get_batch(did, distribution.batch_of_leaf(22)).leaves[22]
    pending = client.get(f"/distributions/{did}/claims/{last.account}{wait}",
                         headers=auth(keys["viewer"]))
    assert pending.status_code == 200 and pending.json()["status"] == "PENDING"
    assert verifies(distribution.merkle_root, 22, last.account, last.net,
                    pending.json()["proof"])


def test_no_unpaid_leaf_is_a_404_problem_and_a_bad_account_a_422(client, keys, ledger,
                                                                partly_failed, projector):
    did = partly_failed
    distribution = ledger.get_distribution(did)
    paid = ledger.get_batch(did, distribution.batch_of_leaf(3)).leaves[3]
    wait = f"?wait_for_position={head(ledger)}"
    for account in (paid.account, "0x" + "12" * 20):  # paid; never a holder
        r = client.get(f"/distributions/{did}/claims/{account}{wait}", headers=auth(keys["viewer"]))
        assert r.status_code == 404, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
    bad = client.get(f"/distributions/{did}/claims/0x12", headers=auth(keys["viewer"]))
    assert bad.status_code == 422 and bad.headers["content-type"].startswith(
        "application/problem+json")


def test_export_lists_every_unpaid_claim_in_the_merkle_distributor_format(
        ledger, partly_failed, database_url, schema, tmp_path):
    did = partly_failed
    distribution = ledger.get_distribution(did)
    out = tmp_path / "claims.json"
    env = {"DATABASE_URL": database_url, "MASS_PAYOUT_SCHEMA": schema}
    result = CliRunner().invoke(cli, ["claims", "export", str(did), "--out", str(out)], env=env)
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text())
    assert doc["merkleRoot"] == distribution.merkle_root
    # The 3 failed pushes and the 1 leaf never pushed, and nobody else
    assert sorted(c["index"] for c in doc["claims"].values()) == [2, 9, 15, 22]
    total = 0
    for account, c in doc["claims"].items():
        assert verifies(doc["merkleRoot"], c["index"], account, int(c["amount"], 16), c["proof"])
        total += int(c["amount"], 16)
    assert int(doc["tokenTotal"], 16) == total > 0
    # An unknown distribution is one line and exit code 1
    refused = CliRunner().invoke(cli, ["claims", "export", "00000000-0000-0000-0000-000000000001"],
                                 env=env)
    assert refused.exit_code == 1 and "refused" in refused.output
