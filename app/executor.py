"""Paying one batch: the worker's side of the exactly-once protocol.

1. Load the batch; nothing undecided, or the distribution not executing → nothing to do.
2. A previous submission still pending (mined, or known to the node, or younger than the grace
   period) → leave it; the ingestor and the supervisor take it from there.
3. Read the vault's paid bitmap and leave out what the chain already paid (one block below
   the head, like the funds check, so neither waits for a block the node is still mining).
   The funds check counts only what the vault holds beyond what distributions committed
   earlier still owe (app.funds); short → WAITING_FOR_FUNDS.
4. Prove just those leaves from the batch's own leaves and range proof (PartialTree), which
   also re-checks them against the committed root before anything is signed.
5. Under the signer's nonce lock: sign, record `Submitted(tx_hash, nonce)`, then broadcast.
   The worker never records an outcome; outcomes come back from the chain's logs.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

from eth_utils.address import to_checksum_address

from app.failpoints import failpoint
from app.funds import FundsBook
from app.ledger import PayoutLedger
from app.submissions import Submission, last_submission
from chain.encoding import onchain_id
from chain.gateway import EvmGateway, TransientChainError
from chain.signer import Signer
from chain.vault import Entitlement as Leaf
from chain.vault import (
    build_batch,
    decode_paid_indices,
    encode_cash_out,
    encode_paid_words,
    encode_pay_batch,
)
from domain.batch import BatchStatus, PayoutBatch
from domain.distribution import Distribution, Status
from domain.entitlements import leaf_amount
from domain.errors import AlreadyExists, DomainError
from domain.failures import RetryPolicy
from domain.merkle import PartialTree, leaf_hash
from domain.planning import GasModel
from domain.snapshot_plan import batch_gas_model
from domain.terms import DistributionKind

PENDING_GRACE = timedelta(seconds=60)  # how long an unseen submission is given to show up


@dataclass(frozen=True, slots=True)
class Outcome:
    # submitted | nothing-to-do | in-flight | waiting-for-funds | raced | retry-later | gave-up
    action: str
    detail: str = ""
    tx_hash: str | None = None
    retry_at: datetime | None = None  # retry-later: when the next attempt is due
    lost_tx: str | None = None  # retry-later: a submission the failed attempt never delivered


class BatchExecutor:
    def __init__(self, ledger: PayoutLedger, gateway: EvmGateway, signer: Signer,
                 gas_model: GasModel, retry_policy: RetryPolicy | None = None,
                 unit_random: Callable[[], float] = random.random,
                 funds: FundsBook | None = None) -> None:
        self.ledger = ledger
        self.funds = funds or FundsBook(ledger)
        self.gateway = gateway
        self.signer = signer
        self.gas_model = gas_model
        self.retry_policy = retry_policy or RetryPolicy()
        self.unit_random = unit_random

    def execute(self, batch_id: UUID, now: datetime | None = None,
                lost_tx: str | None = None) -> Outcome:
        """`lost_tx`: the supervisor judged that submission lost; no grace period for it.

        A transient fault (RPC, nonce, fees, timeout) is recorded as `AttemptFailed` with
        when to try again (exponential backoff with jitter), or, once attempts run out, the
        batch is BLOCKED for an operator. The caller schedules the retry.
        """
        failpoint("after-take")
        moment = now or datetime.now(UTC)
        try:
            return self._execute(batch_id, moment, lost_tx)
        except TransientChainError as err:
            return self._transient(batch_id, moment, err)
        except (OSError, TimeoutError) as err:  # contract reads outside the gateway: requests'
            # connection errors are OSErrors too
            return self._transient(batch_id, moment, TransientChainError(f"RPC failed: {err}"))

    def _transient(self, batch_id: UUID, now: datetime, err: TransientChainError) -> Outcome:
        batch = self.ledger.get_batch_by_id(batch_id)
        attempt = batch.transient_failures + 1
        delay = self.retry_policy.delay(attempt, self.unit_random())
        retry_at = now + timedelta(seconds=delay) if delay is not None else None
        try:
            self.ledger.record_attempt_failure(batch_id, reason=str(err), retry_at=retry_at,
                                               expected_version=batch.version)
        except DomainError as refused:  # settled or blocked meanwhile: nothing to retry
            return Outcome("nothing-to-do", str(refused))
        if retry_at is None:
            return Outcome("gave-up", f"attempt {attempt}: {err}")
        unsent = batch.tx_hashes[-1] if batch.status is BatchStatus.SUBMITTED \
            and batch.tx_hashes[-1] not in batch.settled_txs else None
        return Outcome("retry-later", f"attempt {attempt}: {err}", retry_at=retry_at,
                       lost_tx=unsent)

    def _execute(self, batch_id: UUID, now: datetime, lost_tx: str | None) -> Outcome:
        batch = self.ledger.get_batch_by_id(batch_id)
        distribution = self.ledger.get_distribution(batch.distribution_id)
        if distribution.status is not Status.EXECUTING:
            return Outcome("nothing-to-do", f"distribution is {distribution.status}")
        if batch.status is BatchStatus.BLOCKED:
            return Outcome("nothing-to-do", f"blocked: {batch.rejection}")
        candidates = batch.undecided_leaves()
        if not candidates:
            return Outcome("nothing-to-do", "every leaf has an outcome")
        pending = self._pending(batch, now, lost_tx)
        if pending:
            return Outcome("in-flight", pending, batch.tx_hashes[-1])
        return self._submit(batch, distribution, candidates, now)

    def _pending(self, batch: PayoutBatch, now: datetime, lost_tx: str | None) -> str:
        """Why the last submission should be left alone, or '' if there is none or it is lost."""
        state = last_submission(self.gateway, batch, now, PENDING_GRACE, no_grace_for=lost_tx)
        if state in {Submission.MINED, Submission.REVERTED}:
            return "mined; awaiting ingestion"
        if state in {Submission.IN_MEMPOOL, Submission.RECENT}:
            return state.value
        return ""

    def _submit(self, batch: PayoutBatch, distribution: Distribution, candidates: list[int],
                now: datetime) -> Outcome:
        asset = self.ledger.get_asset(distribution.asset_id)
        if asset.vault_address is None or distribution.totals is None \
                or distribution.merkle_root is None:
            return Outcome("nothing-to-do", "no vault or no commitment")
        vault = to_checksum_address(asset.vault_address)
        dist_key = onchain_id(distribution.id)
        # Read one block below the head: anvil (automine) holds every read of the head's
        # state while it mines the next block (~100 ms per payout batch), and another batch
        # is nearly always being mined. What the newest block may have changed is harmless:
        # this batch's own last transaction was ruled out by _pending, a leaf a claim paid
        # meanwhile is skipped on-chain as AlreadyPaid, and a shortfall is confirmed at the
        # head before it is recorded.
        block = max(self.gateway.block_number() - 1, 0)
        bitmap = encode_paid_words(dist_key, batch.first_leaf, batch.leaf_count)
        words = self.gateway.call(vault, bitmap, block) \
            or self.gateway.call(vault, bitmap)  # no vault code yet one block below
        chain_paid = set(decode_paid_indices(words, batch.first_leaf, batch.leaf_count))
        todo = [i for i in candidates if i not in chain_paid]
        if not todo:
            return Outcome("nothing-to-do", "already paid on-chain; awaiting ingestion")
        needed = sum(batch.leaves[i].net for i in todo)
        # What distributions committed before this one still owe is theirs (app.funds).
        owed = self.funds.owed_ahead_of(distribution, vault, asset.payment_token)
        held = self.gateway.token_balance(asset.payment_token, vault, block)
        if held - owed < needed:  # perhaps a deposit in the newest block: ask the head
            held = self.gateway.token_balance(asset.payment_token, vault)
        available = max(held - owed, 0)
        if available < needed:
            with contextlib.suppress(DomainError):  # another batch's worker recorded it first
                self.ledger.await_funds(distribution.id, needed=needed, available=available)
            return Outcome("waiting-for-funds", f"vault holds {held}, of which {owed} is owed"
                           f" to distributions committed earlier; batch needs {needed}")
        # A cash-out's leaves commit the units redeemed (the vault pays their principal);
        # a payout's, the net paid. Either way the funds needed are the leaves' net.
        kind = distribution.terms.kind
        cash_out = kind is DistributionKind.CASH_OUT
        amounts = {i: leaf_amount(kind, batch.leaves[i].balance, batch.leaves[i].net)
                   for i in batch.leaf_range}
        tree = PartialTree(
            distribution.totals.eligible, batch.first_leaf,
            [leaf_hash(i, batch.leaves[i].account, amounts[i]) for i in batch.leaf_range],
            [bytes.fromhex(p[2:]) for p in batch.range_proof],
            bytes.fromhex(distribution.merkle_root[2:]),
        )
        proof = tree.multiproof(todo)
        packed = build_batch([Leaf(i, batch.leaves[i].account, amounts[i]) for i in todo],
                             proof.proof, proof.flags)
        encode = encode_cash_out if cash_out else encode_pay_batch
        data = "0x" + encode(dist_key, packed).hex()
        model = batch_gas_model(distribution.terms, self.gas_model)
        gas = model.gas_limit(len(todo), distribution.totals.eligible)
        return self._sign_record_broadcast(batch, todo, vault, data, gas, now)

    def _sign_record_broadcast(self, batch: PayoutBatch, todo: list[int], to: str, data: str,
                               gas: int, now: datetime) -> Outcome:
        with self.gateway.nonce_lock(self.signer.address):
            nonce = self.gateway.pending_nonce(self.signer.address)
            fees = self.gateway.fees()
            signed = self.signer.sign_transaction({
                "type": 2, "chainId": self.gateway.chain_id, "nonce": nonce, "to": to,
                "data": data, "gas": gas, "value": 0,
                "maxFeePerGas": fees.max_fee_per_gas,
                "maxPriorityFeePerGas": fees.max_priority_fee_per_gas,
            })
            try:
                self.ledger.record_submission(batch.id, tx_hash=signed.tx_hash, nonce=nonce,
                                              leaf_indices=todo, signed_at=now,
                                              expected_version=batch.version)
            except AlreadyExists:
                return Outcome("raced", "another worker recorded a submission first")
            failpoint("after-record")
            self.gateway.broadcast(signed.raw)
            failpoint("after-broadcast")
        return Outcome("submitted", f"{len(todo)} leaves, nonce {nonce}", signed.tx_hash)
