"""An approved vault request whose job never reached Redis (the approving API died, or Redis
lost it) is queued by the supervisor's next pass, once, until the vault's log settles it."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

from redis import Redis
from rq import Queue

from app import vault_requests
from app.owed_jobs import Ensured, ensure
from app.owed_vault_ops import OwedVaultOpJobs
from devtools import payout_story as story
from domain.chain_facts import VaultAdministered

VAULT = "0x" + "ba" * 20


def test_an_approved_vault_request_is_owed_its_job_until_it_settles(ledger, redis_url):
    redis = Redis.from_url(redis_url)
    queue = Queue(f"vault-ops-{uuid4().hex[:8]}", connection=redis)  # this test's own
    asset = story.import_asset(ledger)
    ledger.link_vault(asset, VAULT, "importer")
    # A pause is requested and approved, but no job is queued for it.
    now = datetime.now(UTC)
    pause, _ = ledger.request_vault_op(asset, action="PAUSE", reason="incident", actor="ann",
                                       now=now)
    ledger.approve_vault_op(asset, pause, "bob")
    owed = OwedVaultOpJobs(ledger, queue)
    # The supervisor's check queues it under its deterministic id, and only once.
    assert [ensure(job, now) for job in owed.owed()] == [Ensured.QUEUED]
    assert queue.job_ids == [vault_requests.job_id(asset, pause)]
    assert [ensure(job, now) for job in owed.owed()] == [None]
    # Sent and settled by the vault's log: nothing is owed any more.
    ledger.record_vault_submission(asset, pause, tx_hash="0x71", nonce=1, signed_at=now)
    ledger.apply_chain_facts(chain_id=31337, contract=VAULT, from_block=1, to_block=1,
                             block_hash="0xe1", chain_hash_at_cursor=None,
                             facts=[VaultAdministered(asset, VAULT, "Paused", "0x71")])
    assert list(owed.owed()) == []
    queue.empty()
