"""POST /distributions/preview and `app.preview.preview_distribution`: what creation then
snapshot would record, from the asset's live holders, recording nothing. Real PostgreSQL,
real projections, a real (py-evm) token."""

from __future__ import annotations

from uuid import UUID

import msgspec

from api import schemas
from app.commands import CreateDistribution, head, terms_of
from app.preview import preview_distribution
from devtools import payout_story as story
from domain.entitlements import Snapshot
from domain.planning import GasModel
from tests.api.conftest import auth
from tests.api.test_api import BODY, USD, imported

TOTALS = ("holders", "eligible", "skipped", "gross", "net", "withheld", "dust",
          "skipped_amount", "merkle_root")


def live(client, keys, asset_id, position):
    """The asset's holders as listAssetHolders shows them (what a preview reads)."""
    rows, cursor = [], None
    while True:
        query = f"wait_for_position={position}&limit=500" + (f"&cursor={cursor}" if cursor
                                                            else "")
        page = client.get(f"/assets/{asset_id}/holders?{query}",
                          headers=auth(keys["viewer"])).json()
        rows += [(h["account"], int(h["balance"])) for h in page["items"]]
        if not (cursor := page["next_cursor"]):
            return rows


def with_holders(client, keys, chain, ledger, n=40):
    """An imported asset whose latest snapshot (an earlier distribution) has `n` holders."""
    asset = imported(client, keys, chain)
    asset_id = UUID(asset["asset_id"])
    story.snapshotted(ledger, asset_id, n, key="earlier")
    return asset_id, live(client, keys, asset_id, head(ledger))


def test_a_preview_is_what_create_then_records_and_records_nothing(client, keys, chain,
                                                                   ledger):
    # An asset whose holders are known from an earlier snapshot.
    asset_id, holders = with_holders(client, keys, chain, ledger)
    assert len(holders) == 39  # the story's zero balance is no holder
    # Terms that skip holders: one excluded, the smallest shares below the minimum.
    body = {**BODY, "asset_id": str(asset_id), "excluded": [holders[0][0]],
            "minimum_payout": "15000000"}
    op = auth(keys["operator"])
    before = head(ledger)
    r = client.post("/distributions/preview?skipped_limit=3", json=body, headers=op)
    assert r.status_code == 200, r.text
    preview = r.json()
    # It says it is a preview, and recorded nothing: the ledger's head did not move.
    assert preview["preview"] is True
    assert head(ledger) == before
    reasons = preview["skipped_by_reason"]
    assert reasons["EXCLUDED"] == 1 and reasons["BELOW_MINIMUM"] > 0
    assert sum(reasons.values()) == preview["skipped"] and len(preview["skipped_holders"]) == 3
    # The operator creates it for real; it is approved and frozen from the same holders.
    made = client.post("/distributions", json=body,
                       headers={**op, "Idempotency-Key": "for-real"}).json()
    did = UUID(made["distribution_id"])
    ledger.approve_distribution(did, "checker")
    ledger.snapshot_distribution(did, snapshot=Snapshot.from_chunks([holders], decimals=2),
                                 snapshot_ref="live", gas_model=GasModel())
    position = head(ledger)
    viewer = auth(keys["viewer"])
    recorded = client.get(f"/distributions/{did}?wait_for_position={position}",
                          headers=viewer).json()
    # Same totals, same root, same batches, as recorded.
    assert {k: preview[k] for k in TOTALS} == {k: recorded[k] for k in TOTALS}
    assert preview["batch_count"] == recorded["batch_count"]
    batches = client.get(f"/distributions/{did}/batches?wait_for_position={position}",
                         headers=viewer).json()["items"]
    assert preview["estimated_gas"] == sum(b["gas_limit"] for b in batches if b["leaf_count"])
    # The skipped holders listed are the first ones the ledger recorded as skipped.
    skipped = client.get(f"/distributions/{did}/holders?status=SKIPPED&limit=3"
                         f"&wait_for_position={position}", headers=viewer).json()["items"]
    assert [(h["account"], h["skip_reason"], h["gross"]) for h in skipped] == [
        (h["account"], h["reason"], h["gross"]) for h in preview["skipped_holders"]]


def test_the_function_plans_the_same_batches_as_the_snapshot(client, keys, chain, ledger):
    # The panel calls the function: with a gas model that cuts several batches, the
    # preview's batches, gas and root are those the ledger then records.
    asset_id, holders = with_holders(client, keys, chain, ledger)
    model = GasModel(per_leaf=1_000_000, budget=12_000_000)
    body = msgspec.convert({**BODY, "asset_id": str(asset_id), "withholding_bps": 333},
                           CreateDistribution)
    before = head(ledger)
    preview = preview_distribution(ledger, lambda _: [holders[:20], holders[20:]], body,
                                   gas_model=model, skipped_sample=0)
    assert head(ledger) == before and preview.skipped_holders == []
    did = ledger.create_distribution(asset_id=asset_id, idempotency_key="cut",
                                     terms=terms_of(body), actor="maker")
    ledger.approve_distribution(did, "checker")
    totals = ledger.snapshot_distribution(did, snapshot=Snapshot.from_chunks(
        [holders], decimals=2), snapshot_ref="live", gas_model=model)
    distribution = ledger.get_distribution(did)
    assert preview.batches == distribution.batch_count > 3
    assert preview.merkle_root == distribution.merkle_root
    assert (preview.gross, preview.net, preview.withheld, preview.dust) == (
        totals.gross, totals.net, totals.withheld, totals.dust)
    assert preview.estimated_gas == sum(b.gas_limit for b in ledger.batches(did)
                                        if b.leaf_count)


def test_bad_input_is_a_4xx_problem_and_records_nothing(client, keys, chain, ledger):
    asset_id, holders = with_holders(client, keys, chain, ledger, n=5)
    body = {**BODY, "asset_id": str(asset_id)}
    op = auth(keys["operator"])
    no_holders = story.import_asset(ledger, token="0x" + "a3" * 20)
    paused = story.import_asset(ledger, token="0x" + "a4" * 20)
    ledger.pause_asset(paused, "operator", "audit")
    before = head(ledger)
    cases = {
        "unknown asset": ({**body, "asset_id": "00000000-0000-0000-0000-000000000000"}, 404),
        "no holder known": ({**body, "asset_id": str(no_holders)}, 422),
        "paused": ({**body, "asset_id": str(paused)}, 422),
        "recurring": ({**body, "execution": {"kind": "RECURRING", "recurrence": "DAILY",
                                             "start": "2026-07-01T00:00:00Z", "count": 2}},
                      422),
        "percentage": ({**body, "rule": {"kind": "PERCENTAGE", "value": "100"}}, 422),
        "bad checksum": ({**body, "excluded": [holders[0][0].swapcase().replace("0X", "0x")]},
                         422),
        "everyone excluded": ({**body, "excluded": [a for a, _ in holders]}, 422),
        "no UTC time": ({**body, "record_date": "0001-01-01T00:00:00+01:00"}, 422),
        # A rule may be left out of a CASH_OUT only (at the bond's nominal): 422 naming it.
        "no rule": ({k: v for k, v in body.items() if k != "rule"}, 422),
        "unknown field": ({**body, "idempotency_key": "x"}, 400),
        "amount not digits": ({**body, "rule": {"kind": "PRO_RATA", "value": "1e9"}}, 400),
    }
    for name, (sent, status) in cases.items():
        r = client.post("/distributions/preview", json=sent, headers=op)
        assert r.status_code == status, (name, r.text)
        assert r.headers["content-type"].startswith("application/problem+json"), name
    assert "no holder" in client.post("/distributions/preview", json=cases[
        "no holder known"][0], headers=op).json()["detail"]
    # A bad query, a viewer's key, and no key.
    assert client.post("/distributions/preview?skipped_limit=501", json=body,
                       headers=op).status_code == 400
    assert client.post("/distributions/preview", json=body,
                       headers=auth(keys["viewer"])).status_code == 403
    assert client.post("/distributions/preview", json=body).status_code == 401
    assert head(ledger) == before


def test_the_document_describes_the_preview(client):
    document = client.get("/schema/openapi.json").json()
    operation = document["paths"]["/distributions/preview"]["post"]
    assert operation["operationId"] == "previewDistribution"
    assert {"200", "400", "401", "403", "404", "422"} <= set(operation["responses"])
    assert "preview" in schemas.DistributionPreview.__struct_fields__


def test_an_asset_never_snapshotted_is_previewed_from_the_tokens_balances_now(client, keys,
                                                                             chain, ledger):
    """Before its first snapshot the read model knows no holder of an asset: the preview
    reads who holds the token now, and what they hold, from the chain."""
    from chain.contracts import EQUITY, deploy_security_token, role, send

    w3 = chain.reader.w3
    admin = w3.eth.accounts[0]
    token = deploy_security_token(w3, admin=admin, name="Fresh Equity", symbol="FRSH",
                                  decimals=0, kind=EQUITY)
    send(token.functions.grantRole(role("ISSUER"), admin), admin)
    holders = [("0x" + f"{n:040x}", 10 * n) for n in range(1, 6)]
    send(token.functions.issueBatch([a for a, _ in holders], [b for _, b in holders]), admin)
    r = client.post("/assets/import", json={"token": token.address, "payment_token": USD,
                                            "payment_decimals": 6},
                    headers=auth(keys["operator"]))
    assert r.status_code == 201, r.text
    asset = r.json()
    client.get(f"/assets/{asset['asset_id']}?wait_for_position={asset['position']}",
               headers=auth(keys["viewer"]))  # the assets read model has it
    before = head(ledger)
    answer = client.post("/distributions/preview", json={
        **BODY, "asset_id": r.json()["asset_id"], "rule": {"kind": "PRO_RATA",
                                                           "value": "1500"}},
        headers=auth(keys["operator"]))
    assert answer.status_code == 200, answer.text
    preview = answer.json()
    assert preview["holders"] == 5
    assert preview["eligible"] == 5
    # pro rata 1,500 over 150 units: 10 per unit, exactly
    assert int(preview["gross"]) == 1500
    assert head(ledger) == before
