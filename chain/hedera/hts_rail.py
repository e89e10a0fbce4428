"""The HTS rail: pays a batch of holders from the payout (treasury) account with one native
TransferTransaction (or a TokenAirdrop for holders not associated with the token), built,
signed and submitted with hiero-sdk-python.

The protocol, in the order a worker runs it (the ledger steps are the caller's):
1. `next_valid_start_ns()` then `prepare_transfer(legs, valid_start_ns)`: the transaction with
   a TransactionId chosen here (payer@valid start), frozen and signed by the `HederaSigner`.
   Its size is known before it is sent (`PreparedTransaction.size`).
2. The caller records the TransactionId in the ledger. Only then:
3. `submit(prepared)`: ACCEPTED (the node took it), ALREADY_SUBMITTED (the network has that
   TransactionId: look it up, never resubmit under a new one), REFUSED (a precheck code:
   nothing executed), or UNKNOWN (no answer: it may or may not have executed).
4. `fate(transaction_id, window)`: the receipt from a node, else the Mirror Node's record,
   judged by domain/hts_recovery.py: SETTLED with a status, IN_FLIGHT (ask later) or DEAD
   (provably never executed: prepare again under a new TransactionId).
After a crash anywhere, the worker resumes at step 4 with the recorded TransactionId.

Lookups use their own SDK `Client`: after a transport error the SDK benches the node it used
for at least 8 s, and the recovery must be able to ask right away.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from hiero_sdk_python import (
    AccountId,
    Client,
    Hbar,
    ResponseCode,
    TokenAirdropTransaction,
    TokenId,
    TransferTransaction,
)
from hiero_sdk_python.consensus.topic_id import TopicId
from hiero_sdk_python.consensus.topic_message_submit_transaction import (
    TopicMessageSubmitTransaction,
)
from hiero_sdk_python.exceptions import MaxAttemptsError, PrecheckError
from hiero_sdk_python.hapi.services import timestamp_pb2
from hiero_sdk_python.query.account_balance_query import CryptoGetAccountBalanceQuery
from hiero_sdk_python.query.transaction_get_receipt_query import TransactionGetReceiptQuery
from hiero_sdk_python.tokens.token_airdrop_pending_id import PendingAirdropId
from hiero_sdk_python.tokens.token_airdrop_transaction_cancel import (
    TokenCancelAirdropTransaction,
)
from hiero_sdk_python.transaction.transaction_id import TransactionId

from chain.hedera.errors import MirrorNodeError
from chain.hedera.hts_history import OutstandingAnswer, TopicMessageAnswer, TransactionHistory
from chain.hedera.hts_signer import HederaSigner
from domain.hts_failures import ALREADY_SUBMITTED
from domain.hts_links import TokenLink
from domain.hts_planning import AccountRef, HtsLeg
from domain.hts_recovery import NANOS, Fate, TxWindow, decide

log = logging.getLogger(__name__)

DEFAULT_VALID_SECONDS = 120  # the SDK's default; the network allows at most 180
# Back-date the valid start: a node refuses one that is ahead of its clock.
VALID_START_LEAD_NS = 2 * NANOS
DEFAULT_MAX_FEE = Hbar(2)  # the most one transaction may cost; the SDK's default too
# An airdrop also pays, per holder left pending, HIP-1261's $0.05 pending-airdrop extra and the
# $0.05 association it prepays: ~0.8 hbar at $0.12. Its cap grows by this per holder, so an
# airdrop to nine unassociated holders is not refused INSUFFICIENT_TX_FEE (the fee charged is
# the network's, not the cap).
MAX_FEE_PER_AIRDROP_HOLDER = Hbar(2)
MAX_PENDING_IDS = 10  # pending airdrop ids one TokenCancelAirdrop may name


class SubmitResult(StrEnum):
    ACCEPTED = "ACCEPTED"
    ALREADY_SUBMITTED = "ALREADY_SUBMITTED"
    REFUSED = "REFUSED"
    UNKNOWN = "UNKNOWN"


@dataclass(frozen=True, slots=True)
class Submission:
    result: SubmitResult
    code: str | None = None  # the precheck code when REFUSED
    detail: str = ""


@dataclass(frozen=True, slots=True)
class PreparedTransaction:
    transaction_id: str  # `0.0.payer@seconds.nanos`, the idempotency key to record
    window: TxWindow
    kind: str            # "transfer" | "airdrop" | "cancel" | "commitment"
    size: int            # bytes of the signed transaction as it will be sent
    sdk_transaction: Any


def account_id(ref: AccountRef) -> AccountId:
    return AccountId(ref[0], ref[1], ref[2])


def transaction_id_text(payer: AccountId, valid_start_ns: int) -> str:
    seconds, nanos = divmod(valid_start_ns, NANOS)
    return f"{payer}@{seconds}.{nanos:09d}"


class HtsRail:
    def __init__(self, *, client: Client, lookup_client: Client, payer: AccountId,
                 token: TokenId, signer: HederaSigner, history: TransactionHistory,
                 clock: Callable[[], float] = time.time,
                 valid_seconds: int = DEFAULT_VALID_SECONDS,
                 max_fee: Hbar = DEFAULT_MAX_FEE) -> None:
        self._client, self._lookup = client, lookup_client
        self.payer, self.token = payer, token
        self._signer, self._history, self._clock = signer, history, clock
        self.valid_seconds, self.max_fee = valid_seconds, max_fee
        self._last_start_ns = 0
        self._lock = threading.Lock()

    def now(self) -> float:
        """The rail's clock (seconds), the one its valid starts and verdicts are read on."""
        return self._clock()

    def next_valid_start_ns(self) -> int:
        """A fresh valid start, strictly increasing in this process (a TransactionId is
        unique per payer and valid start; two batches must never share one)."""
        with self._lock:
            start = int(self._clock() * NANOS) - VALID_START_LEAD_NS
            self._last_start_ns = max(start, self._last_start_ns + 1)
            return self._last_start_ns

    # --- 1. prepare -----------------------------------------------------------------------

    def prepare_transfer(self, legs: Sequence[HtsLeg], valid_start_ns: int,
                         ) -> PreparedTransaction:
        tx = TransferTransaction()
        self._add_legs(tx, legs)
        return self._prepare(tx, "transfer", valid_start_ns)

    def prepare_airdrop(self, legs: Sequence[HtsLeg], valid_start_ns: int,
                        ) -> PreparedTransaction:
        """Associated holders are paid at once; the others get a pending airdrop they claim
        (HIP-904). Costs more than a transfer: only for holders a transfer cannot reach."""
        tx = TokenAirdropTransaction()
        self._add_legs(tx, legs)
        cap = Hbar.from_tinybars(self.max_fee.to_tinybars()
                                 + len(legs) * MAX_FEE_PER_AIRDROP_HOLDER.to_tinybars())
        return self._prepare(tx, "airdrop", valid_start_ns, max_fee=cap)

    def prepare_commitment(self, topic: TopicId | str, message: bytes, valid_start_ns: int,
                           ) -> PreparedTransaction:
        """The distribution's commitment (domain/hts_commitment.py) to an HCS topic, paid and
        signed by the payout account; same lifecycle (record, submit, fate) as a payment."""
        if isinstance(topic, str):
            topic = TopicId.from_string(topic)
        tx = TopicMessageSubmitTransaction().set_topic_id(topic).set_message(message)
        return self._prepare(tx, "commitment", valid_start_ns)

    def prepare_cancel(self, legs: Sequence[HtsLeg], valid_start_ns: int,
                       ) -> PreparedTransaction:
        """Cancel the payer's pending airdrops to these holders (after the claim deadline):
        the tokens never left the payer; the holders can no longer claim them. At most 10
        pending airdrops per transaction (`tokens.maxAllowedPendingAirdropsToCancel`)."""
        if not 0 < len(legs) <= MAX_PENDING_IDS:
            raise ValueError(f"a cancellation names 1..{MAX_PENDING_IDS} pending airdrops")
        tx = TokenCancelAirdropTransaction()
        for leg in legs:
            tx.add_pending_airdrop(PendingAirdropId(self.payer, account_id(leg.account),
                                                    self.token))
        return self._prepare(tx, "cancel", valid_start_ns)

    def _add_legs(self, tx: Any, legs: Sequence[HtsLeg]) -> None:
        if not legs:
            raise ValueError("a batch pays at least one holder")
        tx.add_token_transfer(self.token, self.payer, -sum(leg.amount for leg in legs))
        for leg in legs:
            tx.add_token_transfer(self.token, account_id(leg.account), leg.amount)

    def _prepare(self, tx: Any, kind: str, valid_start_ns: int, *,
                 max_fee: Hbar | None = None) -> PreparedTransaction:
        seconds, nanos = divmod(valid_start_ns, NANOS)
        tx.set_transaction_id(TransactionId(self.payer, timestamp_pb2.Timestamp(
            seconds=seconds, nanos=nanos)))
        tx.set_transaction_valid_duration(self.valid_seconds)
        tx.transaction_fee = max_fee or self.max_fee
        tx.freeze_with(self._client)
        tx.sign_with(self._signer.public_key, self._signer.sign)
        return PreparedTransaction(transaction_id_text(self.payer, valid_start_ns),
                                   TxWindow(valid_start_ns, self.valid_seconds), kind,
                                   int(tx.size), tx)

    # --- 3. submit ------------------------------------------------------------------------

    def submit(self, prepared: PreparedTransaction) -> Submission:
        try:
            prepared.sdk_transaction.execute(self._client, wait_for_receipt=False)
        except PrecheckError as refused:
            return _precheck_answer(refused)
        except MaxAttemptsError as exhausted:
            # The SDK retried a BUSY (or another retryable precheck code) until it gave up: the
            # last answer was a refusal. An earlier attempt may still have lost its answer
            # after executing, which is why a refusal never leads to a new TransactionId.
            if isinstance(exhausted.last_error, PrecheckError):
                return _precheck_answer(exhausted.last_error)
            return Submission(SubmitResult.UNKNOWN, None, f"MaxAttemptsError: {exhausted}")
        except Exception as err:  # noqa: BLE001 (no answer: it may have executed; look it up)
            return Submission(SubmitResult.UNKNOWN, None, f"{type(err).__name__}: {err}")
        return Submission(SubmitResult.ACCEPTED)

    # --- 4. find out ----------------------------------------------------------------------

    def receipt_status(self, transaction_id: str) -> str | None:
        """The receipt's status name from a node, or None when it has none (yet, or any
        more) or cannot be asked right now."""
        query = TransactionGetReceiptQuery().set_transaction_id(
            TransactionId.from_string(transaction_id))
        query.set_max_attempts(1)  # RECEIPT_NOT_FOUND is an answer here, not a reason to wait
        try:
            receipt = query.execute(self._lookup)
        except Exception:  # noqa: BLE001 (not found, not final, or unreachable: no answer)
            return None
        return None if receipt.status is None else str(ResponseCode(receipt.status).name)

    def topic_sequence(self, transaction_id: str) -> int | None:
        """A TopicMessageSubmit's sequence number from its receipt (None when the node has
        no receipt for it, or none yet)."""
        query = TransactionGetReceiptQuery().set_transaction_id(
            TransactionId.from_string(transaction_id))
        query.set_max_attempts(1)
        try:
            receipt = query.execute(self._lookup)
        except Exception:  # noqa: BLE001 (not found, not final, or unreachable: no answer)
            return None
        number = int(getattr(receipt, "topic_sequence_number", 0) or 0)
        return number or None

    def published_message(self, transaction_id: str) -> TopicMessageAnswer | None:
        """Where a successful TopicMessageSubmit's message is, from the Mirror Node: what
        `topic_sequence` cannot say once the nodes have forgotten the receipt."""
        return self._history.topic_message(transaction_id)

    def fate(self, transaction_id: str, window: TxWindow) -> Fate:
        """What became of a recorded TransactionId (domain/hts_recovery.py decides)."""
        receipt = self.receipt_status(transaction_id)
        if receipt is not None:
            quick = decide(window, now=self._clock(), receipt_status=receipt,
                           history_status=None, history_indexed_until=None)
            if quick.status is not None:
                return quick
        history = self._history.lookup(transaction_id)
        return decide(window, now=self._clock(), receipt_status=receipt,
                      history_status=history.status,
                      history_indexed_until=history.indexed_until)

    # --- pending airdrops and the payer's hbar ---------------------------------------------

    def airdrop_credited(self, transaction_id: str) -> frozenset[AccountRef] | None:
        """The holders a settled airdrop paid at once (the others' airdrops are pending), from
        the Mirror Node's record of it; None while it has no record yet (ask again)."""
        answer = self._history.lookup(transaction_id, credited_token=str(self.token))
        if answer.status is None:
            return None
        return frozenset(_ref(account) for account in answer.credited)

    def outstanding_airdrops(self) -> tuple[dict[AccountRef, int], float | None]:
        """The payer's pending airdrops of the token (receiver -> amount) and the Mirror
        Node's horizon they were read at."""
        answer: OutstandingAnswer = self._history.outstanding_airdrops(str(self.payer),
                                                                       str(self.token))
        return ({_ref(r): amount for r, amount in answer.receivers.items()},
                answer.indexed_until)

    def token_links(self, accounts: Sequence[AccountRef]) -> dict[AccountRef, TokenLink]:
        """What the Mirror Node says of each holder's relationship with the token: advice to
        group a transaction by (domain/hts_links.py), so a Mirror Node that cannot answer
        leaves every holder UNKNOWN rather than stopping a payment the network would take."""
        named = {f"{s}.{r}.{n}": (s, r, n) for s, r, n in accounts}
        try:
            answer = self._history.token_links(list(named), str(self.token))
        except MirrorNodeError as err:
            log.warning("token relationships unknown, paying as planned: %s", err)
            return dict.fromkeys(named.values(), TokenLink.UNKNOWN)
        return {ref: answer.get(name, TokenLink.UNKNOWN) for name, ref in named.items()}

    def payer_tinybars(self) -> int:
        """The payer's hbar balance (a free query), to know fees can be paid again."""
        balance = CryptoGetAccountBalanceQuery().set_account_id(self.payer).execute(
            self._lookup)
        return int(balance.hbars.to_tinybars())


def _precheck_answer(refused: PrecheckError) -> Submission:
    code = refused.status.name
    if code == ALREADY_SUBMITTED:
        return Submission(SubmitResult.ALREADY_SUBMITTED, code)
    return Submission(SubmitResult.REFUSED, code)


def _ref(account: str) -> AccountRef:
    shard, realm, num = (int(part) for part in account.split("."))
    return (shard, realm, num)
