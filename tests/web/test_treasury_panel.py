"""Reclaim and sweep at the panel: an operator asks (a bad amount marks its field and records
nothing), an approver who did not ask approves, which queues the treasurer's job; a viewer
sees and may do nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

from redis import Redis
from rq import Queue

from app import treasury
from app.commands import head
from devtools import payout_story as story
from domain.treasury import TreasuryState
from tests.api.conftest import auth
from tests.projections.stories import SMALL
from tests.web.conftest import hx, sign_in


def test_asked_by_one_approved_by_another_and_queued_for_the_treasurer(web, keys, ledger,
                                                                       redis_url):
    asset = story.import_asset(ledger)
    did = story.snapshotted(ledger, asset, 12, key="panel-treasury", gas_model=SMALL)
    ledger.commit_distribution(did, tx_hash="0x" + "cc" * 32,
                               claim_deadline=datetime.now(UTC) - timedelta(days=1),
                               actor="approver")
    base = f"/panel/distributions/{did}"
    # (the read models have the commit: the panel reads them)
    assert web.get(f"/distributions/{did}?wait_for_position={head(ledger)}",
                   headers=auth(keys["viewer"])).json()["commit_tx"]
    # A viewer sees the section without a form, and a forced request is refused
    csrf = sign_in(web, keys["viewer"])
    seen = web.get(f"{base}/fragments/treasury").text
    assert "Reclaim and sweep" in seen and 'data-action="sweep"' not in seen
    before = head(ledger)
    assert web.post(f"{base}/sweeps", data={"amount": "1", "reason": "x"},
                    headers=hx(csrf)).status_code == 403
    # The operator: a malformed amount marks its field; nothing is recorded
    csrf = sign_in(web, keys["operator"])
    form = web.get(f"{base}/fragments/treasury").text
    assert 'data-action="reclaim"' in form and 'data-action="sweep"' in form
    bad = web.post(f"{base}/sweeps", data={"amount": "1.5", "reason": "dust"}, headers=hx(csrf))
    assert bad.status_code == 422 and 'data-error="amount"' in bad.text
    assert head(ledger) == before
    asked = web.post(f"{base}/sweeps", data={"amount": "3", "reason": "withheld tax"},
                     headers=hx(csrf))
    assert asked.status_code == 200, asked.text
    assert 'data-state="REQUESTED"' in asked.text and "waiting for another approver" in asked.text
    # The operator may not approve; the approver may, which queues the treasurer's job
    assert web.post(f"{base}/treasury-ops/0/approve", headers=hx(csrf)).status_code == 403
    csrf = sign_in(web, keys["approver"])
    assert 'data-action="approve-treasury"' in web.get(f"{base}/fragments/treasury").text
    jobs = Queue(treasury.QUEUE_NAME, connection=Redis.from_url(redis_url))
    try:
        approved = web.post(f"{base}/treasury-ops/0/approve", headers=hx(csrf))
        assert approved.status_code == 200, approved.text
        assert "queued for the treasurer" in approved.text
        assert treasury.job_id(UUID(str(did)), 0) in jobs.job_ids
    finally:
        jobs.empty()
    op = ledger.get_distribution(did).treasury_op(0)
    assert op.state is TreasuryState.APPROVED and op.amount == 3
    # With a tax authority configured on the asset, the form offers it; a sweep of withheld
    # tax there shows its account, and the approval's confirmation names it
    tax_office = "0x" + "7A" * 20
    position = ledger.set_sweep_accounts(asset, tax_authority=tax_office, dust=None,
                                         actor="admin", reason="tax office")
    # (the sweep_accounts read model has it: the panel reads it there)
    assert web.get(f"/assets/{asset}/sweep-accounts?wait_for_position={position}",
                   headers=auth(keys["viewer"])).json()["tax_authority"]
    csrf = sign_in(web, keys["operator"])
    assert 'value="TAX_AUTHORITY"' in web.get(f"{base}/fragments/treasury").text
    unknown = web.post(f"{base}/sweeps", data={"amount": "1", "reason": "x",
                                               "destination": "ELSEWHERE"}, headers=hx(csrf))
    assert unknown.status_code == 422
    to_tax = web.post(f"{base}/sweeps", data={"amount": "1", "reason": "withheld tax",
                                              "destination": "TAX_AUTHORITY"}, headers=hx(csrf))
    assert to_tax.status_code == 200, to_tax.text
    assert 'data-destination="TAX_AUTHORITY"' in to_tax.text
    csrf = sign_in(web, keys["approver"])
    assert f"to {ledger.get_distribution(did).treasury_op(1).recipient}" in web.get(
        f"{base}/fragments/treasury").text
