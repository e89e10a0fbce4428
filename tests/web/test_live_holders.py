"""`GET /assets/{id}/holders?view=live` and the asset page's live holders: who holds the asset
now, from the token's ingested transfers, beside (and labelled apart from) the latest
snapshot's balances."""

from __future__ import annotations

import re
from uuid import UUID

from app.commands import head
from domain.chain_facts import ShareTransfer
from tests.api.conftest import auth
from tests.api.test_api import imported
from tests.web.conftest import sign_in
from tests.web.test_assets import seen

ZERO = "0x" + "00" * 20


def test_the_api_and_the_asset_page_show_live_holders_apart_from_the_snapshot(
        web, keys, chain, ledger):
    aid = seen(web, keys, imported(web, keys, chain))
    # The ingestor saves one range of the token's transfers: three minted, one sold out.
    holders = ["0x" + c * 20 for c in ("0a", "0b", "0c")]
    moves = [(ZERO, h, 100 * (i + 1)) for i, h in enumerate(holders)]
    moves.append((holders[0], holders[2], 100))
    ledger.apply_chain_facts(
        chain_id=31337, contract=chain.token, from_block=1, to_block=5, block_hash="0xb5",
        chain_hash_at_cursor=None,
        facts=[ShareTransfer(UUID(aid), s, r, a, f"0x{i:064x}", 1 + i, 0)
               for i, (s, r, a) in enumerate(moves)])
    position = head(ledger)
    # The live view, keyset paged: the two holders left, by account; the seller is gone.
    url = f"/assets/{aid}/holders?view=live&limit=1&wait_for_position={position}"
    first = web.get(url, headers=auth(keys["viewer"])).json()
    assert first["view"] == "live" and first["next_cursor"]
    second = web.get(f"/assets/{aid}/holders?view=live&limit=1&cursor={first['next_cursor']}",
                     headers=auth(keys["viewer"])).json()
    assert second["next_cursor"] is None
    (b,), (c,) = first["items"], second["items"]
    assert (b["account"], b["balance"], c["account"], c["balance"]) == (
        holders[1], "200", holders[2], "400")
    assert c["distribution_id"] is None and c["last_tx_hash"] == f"0x{3:064x}"
    assert c["first_seen_at"] == c["updated_at"]  # one range: first and last seen together
    # Existing clients: no view asked, the snapshot's balances (none taken yet), as before.
    snapshot = web.get(f"/assets/{aid}/holders", headers=auth(keys["viewer"])).json()
    assert snapshot == {"items": [], "next_cursor": None, "view": "snapshot"}
    bad = web.get(f"/assets/{aid}/holders?view=now", headers=auth(keys["viewer"]))
    assert bad.status_code == 400
    assert bad.headers["content-type"].startswith("application/problem+json")
    # The panel's asset page lists them under "Holders now", the snapshot's table apart.
    sign_in(web, keys["viewer"])
    page = web.get(f"/panel/assets/{aid}")
    assert re.findall(r'<tr data-live-account="(0x[0-9a-f]{40})"', page.text) == holders[1:]
    assert "Holders now" in page.text and 'data-empty="asset-holders"' in page.text
    fragment = web.get(f"/panel/assets/{aid}/fragments/live-holders")
    assert fragment.status_code == 200 and 'hx-trigger="sse:live_holders"' in fragment.text
