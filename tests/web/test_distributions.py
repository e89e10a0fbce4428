"""The distributions screens: the list, one distribution's page, and its actions by role."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from uuid import UUID

from app.commands import head
from devtools import payout_story as story
from domain.distribution import Status
from domain.planning import GasModel
from tests.api.conftest import auth
from tests.api.test_api import BODY, imported
from tests.web.conftest import hx, sign_in
from web.controllers import distributions


def created(web, keys, chain, maker="operator", key="q2"):
    """A distribution created through the API by `maker`, visible in the read models."""
    asset = imported(web, keys, chain)
    made = web.post("/distributions", json={**BODY, "asset_id": asset["asset_id"]},
                    headers=auth(keys[maker], **{"Idempotency-Key": key}))
    assert made.status_code == 201, made.text
    did = made.json()["distribution_id"]
    seen = web.get(f"/distributions/{did}?wait_for_position={made.json()['position']}",
                   headers=auth(keys["viewer"]))
    assert seen.status_code == 200
    return did


def executed(web, keys, chain, ledger):
    """40 holders in 4 batches, 4 of them failed (every 9th leaf), no retry yet."""
    asset = imported(web, keys, chain)
    did = story.snapshotted(ledger, UUID(asset["asset_id"]), 40, gas_model=GasModel(
        per_leaf=1_000_000, budget=12_000_000))
    story.execute(ledger, did, fail_every=9, retry=False)
    position = head(ledger)
    for path in ("", "/holders", "/batches"):
        assert web.get(f"/distributions/{did}{path}?wait_for_position={position}",
                       headers=auth(keys["viewer"])).status_code == 200
    return did


def actions(html):
    return set(re.findall(r'data-action="([a-z-]+)"', html))


def test_the_list_shows_an_empty_state_then_the_distributions_with_units(web, keys, chain):
    sign_in(web, keys["viewer"])
    empty = web.get("/panel/distributions")
    assert empty.status_code == 200 and 'data-empty="distributions"' in empty.text
    did = created(web, keys, chain)
    listed = web.get("/panel/distributions")
    row = re.search(rf'<tr data-distribution="{did}"[^>]*>', listed.text)
    assert row and 'data-status="CREATED"' in row.group(0)
    assert 'data-kind="DIVIDEND"' in row.group(0)
    assert "ACME" in listed.text and f'href="/panel/distributions/{did}"' in listed.text
    # the dashboard's cards link here with ?status=X; kind and asset filter too
    assert did in web.get("/panel/distributions?status=CREATED&kind=DIVIDEND").text
    other = web.get("/panel/distributions?status=COMPLETED")
    assert did not in other.text and "No distribution matches" in other.text
    fragment = web.get("/panel/distributions/fragments/list?status=CREATED",
                       headers={"HX-Request": "true"})
    assert did in fragment.text and "<html" not in fragment.text
    assert web.get("/panel/distributions?status=NOPE").status_code == 400


def test_a_page_shows_terms_timeline_progress_batches_and_holders(web, keys, chain, ledger):
    did = executed(web, keys, chain, ledger)
    sign_in(web, keys["viewer"])
    page = web.get(f"/panel/distributions/{did}")
    assert page.status_code == 200, page.text
    text = page.text
    assert re.search(r'id="status" class="status" data-status="COMPLETED_WITH_FAILURES"', text)
    progress = re.search(r'<progress id="progress"[^>]*>', text).group(0)
    assert 'data-paid="35"' in progress and 'data-failed="4"' in progress
    assert 'data-pending="0"' in progress
    assert 'id="pending-claims"' not in text  # nothing awaits a claim: not mentioned
    assert 'data-kind="DIVIDEND"' in text and 'data-rule="PRO_RATA"' in text
    assert 'data-rail="VAULT"' in text  # how it pays: the vault (not the HTS rail)
    assert 'data-excluded="0"' in text and "Merkle root" in text
    timeline = re.search(r'<ol id="timeline".*?</ol>', text, re.S).group(0)
    assert 'data-kind="Created"' in timeline and 'data-actor="maker"' in timeline
    assert 'data-kind="Approved"' in timeline and 'data-actor="checker"' in timeline
    assert timeline.count('data-kind="ProgressRecorded"') == 1 and 'data-runs="4"' in timeline
    assert len(re.findall(r"<tr data-batch=", text)) == 4
    assert len(re.findall(r"<tr data-position=", text)) == 40
    assert 'data-status="FAILED"' in text and "RECIPIENT_BLOCKED" in text
    assert 'id="csv"' in text
    # a viewer sees no action at all, and no checkbox to pick holders for a retry
    assert actions(text) == set() and 'name="leaf"' not in text
    # the live fragments, as htmx refetches them
    state = web.get(f"/panel/distributions/{did}/fragments/state", headers={"HX-Request": "true"})
    assert 'id="progress"' in state.text and 'id="status"' in state.text
    failed = web.get(f"/panel/distributions/{did}/fragments/holders?hstatus=FAILED")
    assert len(re.findall(r'<tr data-position=', failed.text)) == 4
    account = re.search(r'<code title="(0x[0-9a-fA-F]{40})">', failed.text).group(1)
    one = web.get(f"/panel/distributions/{did}/fragments/holders?account={account.lower()}")
    assert len(re.findall(r'<tr data-position=', one.text)) == 1
    bad = web.get(f"/panel/distributions/{did}/fragments/holders?account=nope",
                  headers={"HX-Request": "true", "HX-Trigger": "holders-filter"})
    assert bad.status_code == 422 and 'aria-invalid="true"' in bad.text
    paged = web.get(f"/panel/distributions/{did}/fragments/holders")
    assert "holders-next" not in paged.text  # 40 holders: one page of 100


def test_the_csv_download_is_the_api_report_byte_for_byte(web, keys, chain, ledger):
    did = executed(web, keys, chain, ledger)
    api = web.get(f"/distributions/{did}/report.csv", headers=auth(keys["viewer"]))
    sign_in(web, keys["viewer"])
    panel = web.get(f"/panel/distributions/{did}/report.csv")
    assert panel.status_code == 200 and panel.content == api.content
    assert panel.headers["content-disposition"] == api.headers["content-disposition"]


def test_the_maker_waits_for_another_approver_who_approves_at_the_panel(web, keys, chain,
                                                                          ledger):
    did = created(web, keys, chain, maker="admin")
    csrf = sign_in(web, keys["admin"])
    page = web.get(f"/panel/distributions/{did}").text
    assert "approve" not in actions(page) and "waiting for another approver" in page.lower()
    # forced, the ledger refuses the maker (four eyes), and says so where the operator looks
    before = head(ledger)
    forced = web.post(f"/panel/distributions/{did}/approve", headers=hx(csrf))
    assert forced.status_code == 403 and forced.headers["HX-Retarget"] == "#flash"
    assert head(ledger) == before
    csrf = sign_in(web, keys["approver"])
    assert "approve" in actions(web.get(f"/panel/distributions/{did}").text)
    approved = web.post(f"/panel/distributions/{did}/approve", headers=hx(csrf))
    assert approved.status_code == 200, approved.text
    assert ledger.get_distribution(UUID(did)).status is Status.APPROVED
    assert 'data-seen="APPROVED"' in approved.text
    assert '<input type="hidden" name="seen" value="APPROVED">' in approved.text
    assert "approve" not in actions(approved.text) and 'hx-swap-oob' in approved.text
    # the live actions fragment answers 204 (no swap) while the status is what the page shows
    live = web.get(f"/panel/distributions/{did}/fragments/actions?seen=APPROVED")
    assert live.status_code == 204


def test_a_viewer_sees_no_action_and_a_forced_post_is_refused(web, keys, chain, ledger):
    did = created(web, keys, chain)
    csrf = sign_in(web, keys["viewer"])
    assert actions(web.get(f"/panel/distributions/{did}").text) == set()
    before = head(ledger)
    for action in ("approve", "execute", "cancel", "retry", "retry-selected"):
        refused = web.post(f"/panel/distributions/{did}/{action}", data={"reason": "x"},
                           headers=hx(csrf))
        assert refused.status_code == 403, action
    assert head(ledger) == before


def test_cancel_needs_a_reason(web, keys, chain, ledger):
    did = created(web, keys, chain)
    csrf = sign_in(web, keys["approver"])
    assert {"approve", "cancel"} <= actions(web.get(f"/panel/distributions/{did}").text)
    before = head(ledger)
    refused = web.post(f"/panel/distributions/{did}/cancel", data={"reason": "  "},
                       headers=hx(csrf))
    assert refused.status_code == 422
    assert re.search(r'id="cancel-reason"[^>]*aria-invalid="true"', refused.text)
    assert 'class="field-error"' in refused.text and head(ledger) == before
    done = web.post(f"/panel/distributions/{did}/cancel", data={"reason": "wrong record date"},
                    headers=hx(csrf))
    assert done.status_code == 200, done.text
    assert ledger.get_distribution(UUID(did)).status is Status.CANCELLED


def test_retrying_a_leaf_that_has_not_failed_is_a_clear_409(web, keys, chain, ledger):
    did = executed(web, keys, chain, ledger)
    csrf = sign_in(web, keys["approver"])
    page = web.get(f"/panel/distributions/{did}").text
    assert {"retry-all", "retry-selected"} <= actions(page)
    failed = sorted(int(v) for v in re.findall(r'name="leaf" value="(\d+)"', page))
    assert len(failed) == 4
    before = head(ledger)
    refused = web.post(f"/panel/distributions/{did}/retry-selected",
                       data={"reason": "recipient unblocked", "leaf": ["0"]}, headers=hx(csrf))
    assert refused.status_code == 409
    assert refused.headers["HX-Retarget"] == "#flash" and "have not failed" in refused.text
    no_reason = web.post(f"/panel/distributions/{did}/retry", data={"reason": ""},
                         headers=hx(csrf))
    assert no_reason.status_code == 422 and 'aria-invalid="true"' in no_reason.text
    assert head(ledger) == before
    retried = web.post(f"/panel/distributions/{did}/retry-selected",
                       data={"reason": "recipient unblocked", "leaf": [str(failed[0])]},
                       headers=hx(csrf))
    assert retried.status_code == 200, retried.text
    assert "Retrying 1 holders" in retried.text
    rest = web.post(f"/panel/distributions/{did}/retry", data={"reason": "all of them"},
                    headers=hx(csrf))
    assert rest.status_code == 200 and "Retrying 3 holders" in rest.text
    assert ledger.get_distribution(did).status is Status.EXECUTING


def test_an_operator_executes_and_a_server_without_a_queue_says_so(web, keys, chain, ledger):
    asset = imported(web, keys, chain)
    did = story.snapshotted(ledger, UUID(asset["asset_id"]), 12)
    ledger.commit_distribution(did, tx_hash="0x" + "cc" * 32,
                               claim_deadline=datetime(2027, 1, 1, tzinfo=UTC), actor="approver")
    assert web.get(f"/distributions/{did}?wait_for_position={head(ledger)}",
                   headers=auth(keys["viewer"])).status_code == 200
    csrf = sign_in(web, keys["operator"])
    page = web.get(f"/panel/distributions/{did}").text
    assert actions(page) == {"execute"}  # an operator may not approve, cancel or retry
    queue, web.app.state.queue = web.app.state.queue, None
    try:
        assert 'data-waiting="queue"' in web.get(f"/panel/distributions/{did}").text
        before = head(ledger)
        refused = web.post(f"/panel/distributions/{did}/execute", headers=hx(csrf))
        assert refused.status_code == 503 and "no job queue" in refused.text
        assert refused.headers["HX-Retarget"] == "#flash" and head(ledger) == before
    finally:
        web.app.state.queue = queue
    started = web.post(f"/panel/distributions/{did}/execute", headers=hx(csrf))
    assert started.status_code == 200, started.text
    assert "Execution started" in started.text and 'data-seen="EXECUTING"' in started.text
    assert ledger.get_distribution(did).status is Status.EXECUTING
    # the vault runs short: the page says what is needed and what is there
    position = ledger.await_funds(did, needed=5_000_000, available=1_250_000)
    assert web.get(f"/distributions/{did}?wait_for_position={position}",
                   headers=auth(keys["viewer"])).status_code == 200
    state = web.get(f"/panel/distributions/{did}/fragments/state").text
    assert 'data-status="WAITING_FOR_FUNDS"' in state
    assert 'data-funds-needed="5000000"' in state and "1.25" in state


def test_lists_page_by_keyset(web, keys, chain, ledger, monkeypatch):
    monkeypatch.setattr(distributions, "PAGE", 2)
    monkeypatch.setattr(distributions, "ROWS", 25)
    asset = imported(web, keys, chain)
    made = [story.snapshotted(ledger, UUID(asset["asset_id"]), 30, key=f"k{i}")
            for i in range(3)]
    for path in ("", "/holders"):
        assert web.get(f"/distributions/{made[-1]}{path}?wait_for_position={head(ledger)}",
                       headers=auth(keys["viewer"])).status_code == 200
    sign_in(web, keys["viewer"])
    first = web.get(f"/panel/distributions?asset_id={asset['asset_id']}").text
    older = re.search(r'href="(/panel/distributions\?[^"]*cursor=[^"]+)" data-page="next"', first)
    assert older and len(re.findall(r"<tr data-distribution=", first)) == 2
    second = web.get(older.group(1).replace("&amp;", "&")).text
    shown = re.findall(r'<tr data-distribution="([^"]+)"', first + second)
    assert sorted(shown) == sorted(str(d) for d in made) and 'data-page="next"' not in second
    holders = web.get(f"/panel/distributions/{made[0]}").text
    following = re.search(r'hx-get="([^"]*hcursor=[^"]+)"[^>]*data-page="holders-next"',
                          holders)
    assert following and len(re.findall(r"<tr data-position=", holders)) == 25
    rest = web.get(following.group(1).replace("&amp;", "&")).text
    assert len(re.findall(r"<tr data-position=", rest)) == 5 and "holders-next" not in rest


def test_holders_awaiting_their_airdrop_claim_are_shown_with_what_happens_next(
        web, keys, chain, ledger):
    # An HTS payment of three holders: one credited at once, two not associated with the
    # token, left pending until they claim (recorded as the HTS worker records them).
    asset = imported(web, keys, chain)
    did = story.snapshotted(ledger, UUID(asset["asset_id"]), 4)
    story.commit_and_start(ledger, did)
    batch = ledger.get_batch(did, 0)
    tid, leaves = "0.0.5@1700000000.000000001", batch.undecided_leaves()
    assert len(leaves) == 3  # one of the story's four holders is skipped
    ledger.record_hts_submission(batch.id, transaction_id=tid, valid_start_ns=1_700_000_000
                                 * 10**9 + 1, valid_seconds=120, kind="airdrop",
                                 leaf_indices=leaves)
    ledger.apply_hts_outcome(batch.id, transaction_id=tid, status="SUCCESS",
                             pending=leaves[1:])
    waiting = sum(batch.leaves[i].net for i in leaves[1:])
    position = head(ledger)
    assert web.get(f"/distributions/{did}?wait_for_position={position}",
                   headers=auth(keys["viewer"])).status_code == 200
    sign_in(web, keys["viewer"])
    state = web.get(f"/panel/distributions/{did}/fragments/state",
                    headers={"HX-Request": "true"}).text
    claims = re.search(r'<p id="pending-claims"[^>]*>.*?</p>', state, re.S)
    assert claims, state
    assert 'data-pending-claims="2"' in claims.group(0)
    assert f'data-pending-claim-amount="{waiting}"' in claims.group(0)
    assert "cancelled" in claims.group(0) and "claim deadline" in claims.group(0)
