"""Execution commands that span the ledger and the chain: commit the root, start paying.

Starting saves `ExecutionStarted` first and then queues one job per batch. A crash between the
two loses nothing: the supervisor re-dispatches every batch of an executing distribution that
still has undecided leaves, and deterministic job ids keep the queue free of duplicates.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from rq import Queue

from app.failpoints import failpoint
from app.jobs import enqueue_batch
from app.ledger import PayoutLedger
from chain.announce import announce
from chain.contracts import at
from chain.gateway import EvmGateway
from chain.signer import Signer
from domain.distribution import Status
from domain.errors import IllegalTransition
from domain.rails import Rail


def commit_on_chain(ledger: PayoutLedger, gateway: EvmGateway, signer: Signer,
                    distribution_id: UUID, *, claim_deadline: datetime, actor: str) -> str:
    distribution = ledger.get_distribution(distribution_id)
    asset = ledger.get_asset(distribution.asset_id)
    if asset.vault_address is None:
        raise IllegalTransition(f"asset {asset.symbol} has no vault linked")
    distribution.require_transition(Status.COMMITTED)
    vault = at(gateway.w3, "PayoutVault", asset.vault_address)
    tx_hash = announce(gateway, signer, vault, distribution, payment_token=asset.payment_token,
                       claim_deadline=claim_deadline, asset_token=asset.token_address)
    failpoint("after-announce")  # crash test: the root is on-chain, the ledger does not know
    ledger.commit_distribution(distribution_id, tx_hash=tx_hash, claim_deadline=claim_deadline,
                               actor=actor)
    return tx_hash


def dispatch(ledger: PayoutLedger, queue: Queue, distribution_id: UUID) -> int:
    """Queue every batch that still has leaves no transaction has reached; returns how many."""
    queued = 0
    hts = ledger.get_distribution(distribution_id).rail is Rail.HTS
    for batch in ledger.batches(distribution_id):
        if batch.undecided_leaves():
            queued += enqueue_batch(queue, batch.id, attempt=batch.attempts,
                                    generation=batch.retries, hts=hts)
    return queued


def start_execution(ledger: PayoutLedger, queue: Queue, distribution_id: UUID,
                    actor: str) -> int:
    ledger.start_execution(distribution_id, actor)
    return dispatch(ledger, queue, distribution_id)
