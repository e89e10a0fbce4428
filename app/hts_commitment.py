"""Publishing an HTS distribution's commitment to an HCS topic, exactly once, before any
holder is paid: the HTS rail's counterpart of announcing the root on the vault.

The message is domain/hts_commitment.py's (root, token, totals). Its TopicMessageSubmit has
its own TransactionId, recorded before it is sent (`CommitmentSubmitted`), and the same
recovery as a payment (app/hts_executor.py): a recorded TransactionId is settled first, sent
again under the same id while its window is open (the network deduplicates it), or proven
dead; only then may another be recorded. Its receipt's sequence number (or, once the nodes
have forgotten the receipt, the Mirror Node's record of the message, checked to be ours) is
recorded with the commit (`CommitmentPublished`, then `Committed`), so an auditor finds the
message at `/api/v1/topics/{topic}/messages/{sequence}` on any Mirror Node.
"""

from __future__ import annotations

import time
from datetime import datetime
from uuid import UUID

from app.failpoints import failpoint
from app.ledger import PayoutLedger
from chain.hedera.hts_rail import HtsRail, SubmitResult
from domain.distribution import Commitment, Distribution
from domain.errors import DomainError, IllegalTransition
from domain.hts_commitment import commitment_message
from domain.hts_recovery import TxWindow, Verdict
from domain.rails import hts_token_id


class CommitmentNotPublished(DomainError):
    """The commitment is not on the topic yet: refused at precheck, or still in flight."""


def message_of(ledger: PayoutLedger, distribution: Distribution) -> bytes:
    if distribution.totals is None or distribution.merkle_root is None:
        raise IllegalTransition(f"distribution {distribution.id} has no snapshot yet")
    asset = ledger.get_asset(distribution.asset_id)
    return commitment_message(distribution_id=distribution.id,
                              merkle_root=distribution.merkle_root,
                              token=hts_token_id(asset.payment_token),
                              total_net=distribution.totals.net,
                              leaf_count=distribution.totals.eligible)


def publish_commitment(ledger: PayoutLedger, rail: HtsRail, distribution_id: UUID, *,
                       topic_id: str, claim_deadline: datetime, actor: str,
                       wait_seconds: float = 30.0, poll: float = 0.2) -> Commitment:
    """The commitment's place on the topic, publishing it if needed; CommitmentNotPublished
    when it is not there within `wait_seconds` (calling again resumes where this stopped)."""
    deadline = time.monotonic() + wait_seconds
    while True:
        distribution = ledger.get_distribution(distribution_id)
        if distribution.commitment is not None:
            return distribution.commitment
        message = message_of(ledger, distribution)
        if not distribution.commitment_open:
            prepared = rail.prepare_commitment(topic_id, message, rail.next_valid_start_ns())
            ledger.record_commitment_submission(
                distribution_id, transaction_id=prepared.transaction_id, topic_id=topic_id,
                valid_start_ns=prepared.window.valid_start_ns,
                valid_seconds=prepared.window.valid_seconds)
            failpoint("commitment-after-record")
            submission = rail.submit(prepared)
            if submission.result is SubmitResult.REFUSED:
                # Nothing executed; the id stays open until proven dead (never two at once).
                raise CommitmentNotPublished(f"the network refused the commitment:"
                                             f" {submission.code}")
            continue
        tid, (start, seconds, open_topic) = next(iter(distribution.commitment_open.items()))
        window = TxWindow(start, seconds)
        fate = rail.fate(tid, window)
        if fate.verdict is Verdict.IN_FLIGHT and rail.now() < window.closes_at:
            rail.submit(rail.prepare_commitment(open_topic, message, start))  # same id
            fate = rail.fate(tid, window)
        if fate.verdict is Verdict.DEAD:
            ledger.abandon_commitment(distribution_id, transaction_id=tid, reason="DEAD")
            continue
        if fate.verdict is Verdict.SETTLED and fate.status is not None:
            if fate.status != "SUCCESS":
                ledger.abandon_commitment(distribution_id, transaction_id=tid,
                                          reason=fate.status)
                raise CommitmentNotPublished(f"the commitment {tid} failed: {fate.status}")
            sequence = rail.topic_sequence(tid) or _sequence_from_mirror(
                rail, tid, open_topic, message)
            ledger.publish_commitment(distribution_id, transaction_id=tid,
                                      sequence_number=sequence, claim_deadline=claim_deadline,
                                      actor=actor)
            continue
        if time.monotonic() > deadline:
            raise CommitmentNotPublished(f"the commitment {tid} is still in flight")
        time.sleep(poll)


def _sequence_from_mirror(rail: HtsRail, tid: str, topic: str, message: bytes) -> int:
    """The nodes keep receipts for 180 s; past that the message's sequence number is read
    from the Mirror Node, which keeps topic messages for good. It is recorded only if the
    message found there is ours, on our topic: what an auditor will read at that place."""
    found = rail.published_message(tid)
    if found is None:
        raise CommitmentNotPublished(f"{tid} succeeded; its receipt is no longer on the node"
                                     " and the Mirror Node has not ingested its message yet")
    if (found.topic_id, found.message) != (topic, message):
        raise CommitmentNotPublished(
            f"{tid} put another message on the Mirror Node ({found.topic_id} sequence"
            f" {found.sequence_number}) than the commitment recorded for {topic}: not recorded")
    return found.sequence_number
