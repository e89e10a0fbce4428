"""Request and response bodies: msgspec Structs in `Thing` / `ThingCreate` shapes.

Amounts travel as strings of digits (smallest units): they exceed what JSON numbers carry
safely through most clients.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec

from domain.asset import AssetKind
from domain.batch import BatchStatus
from domain.distribution import Status
from domain.schedule import MissedPolicy, ScheduleStatus
from domain.terms import DistributionKind, ExecutionKind, Recurrence, RuleKind, Trigger

Units = Annotated[str, msgspec.Meta(pattern=r"^[0-9]{1,78}$",
                                    description="integer, smallest units")]
Bps = Annotated[int, msgspec.Meta(ge=0, le=10_000)]
Text = Annotated[str, msgspec.Meta(max_length=500)]
ACCOUNT_PATTERN = r"^(0x[0-9a-fA-F]{40}|[0-9]{1,10}\.[0-9]{1,20}\.[0-9]{1,20})$"
Account = Annotated[str, msgspec.Meta(
    pattern=ACCOUNT_PATTERN,
    description="EVM address (0x…, EIP-55 checksummed if mixed case) or Hedera id (0.0.x)")]


class ProblemDetails(msgspec.Struct):
    """RFC 9457: every 4xx/5xx answer, as application/problem+json."""

    type: str
    title: str
    status: int
    detail: str
    instance: str
    errors: list[Any] | dict[str, Any] | None = None  # validation errors, where any


class Written(msgspec.Struct):
    """Every write answers with the ledger position of its events (read-your-writes)."""

    position: int


class ExecutionStarted(msgspec.Struct):
    position: int
    batches_queued: int


class AssetImport(msgspec.Struct, forbid_unknown_fields=True):
    token: Account
    payment_token: Account
    payment_decimals: Annotated[int, msgspec.Meta(ge=0, le=36)]
    vault: Account | None = None
    chain_id: Annotated[int, msgspec.Meta(ge=1, le=2**53)] | None = None  # None: the API's


class AssetWritten(msgspec.Struct):
    asset_id: UUID
    position: int


class Asset(msgspec.Struct):
    asset_id: UUID
    chain_id: int
    token_address: str
    name: str
    symbol: str
    decimals: int
    kind: AssetKind
    payment_token: str
    payment_decimals: int
    vault_address: str | None
    paused: bool
    pause_reason: str | None
    sync_enabled: bool
    imported_by: str
    imported_at: datetime
    updated_at: datetime


class AssetPage(msgspec.Struct):
    items: list[Asset]
    next_cursor: str | None


class AssetHolder(msgspec.Struct):
    account: str
    balance: str
    distribution_id: UUID
    updated_at: datetime


class AssetHolderPage(msgspec.Struct):
    items: list[AssetHolder]
    next_cursor: str | None


class PauseRequest(msgspec.Struct, forbid_unknown_fields=True):
    reason: Text = ""


class SyncRequest(msgspec.Struct, forbid_unknown_fields=True):
    enabled: bool


class CancelRequest(msgspec.Struct, forbid_unknown_fields=True):
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=500)]


class RuleIn(msgspec.Struct, forbid_unknown_fields=True):
    kind: RuleKind
    value: Units


class ExecutionIn(msgspec.Struct, forbid_unknown_fields=True):
    kind: ExecutionKind = ExecutionKind.MANUAL
    at: datetime | None = None
    recurrence: Recurrence | None = None
    start: datetime | None = None
    end: datetime | None = None
    count: Annotated[int, msgspec.Meta(ge=1, le=10_000)] | None = None
    trigger: Trigger | None = None


class WithholdingOverride(msgspec.Struct, forbid_unknown_fields=True):
    account: Account
    bps: Bps


class DistributionCreate(msgspec.Struct, forbid_unknown_fields=True):
    asset_id: UUID
    kind: DistributionKind
    rule: RuleIn
    record_date: datetime
    execution: ExecutionIn | None = None
    withholding_bps: Bps = 0
    withholding_overrides: Annotated[list[WithholdingOverride],
                                     msgspec.Meta(max_length=10_000)] = []
    # Plain strings: Litestar 2.25 drops constraints of list items from the document, so
    # the ledger checks each account (an invalid one is a 422 problem).
    excluded: Annotated[list[str], msgspec.Meta(
        max_length=10_000, description="accounts left out of the distribution")] = []
    minimum_payout: Units = "0"
    concept: Text = ""


class DistributionWritten(msgspec.Struct):
    distribution_id: UUID
    position: int


class Distribution(msgspec.Struct):
    distribution_id: UUID
    asset_id: UUID
    idempotency_key: str
    kind: DistributionKind
    rule_kind: RuleKind
    rule_value: str
    record_date: datetime
    execution_kind: ExecutionKind
    concept: str
    status: Status
    created_by: str
    approved_by: str | None
    cancelled_by: str | None
    cancel_reason: str | None
    holders: int | None
    eligible: int | None
    skipped: int | None
    gross: str | None
    net: str | None
    withheld: str | None
    dust: str | None
    skipped_amount: str | None
    merkle_root: str | None
    batch_count: int
    batches_settled: int
    paid_count: int
    failed_count: int
    amount_paid: str
    progress: float
    funds_needed: Annotated[str | None, msgspec.Meta(
        description="the last funds check: what was still needed (WAITING_FOR_FUNDS)")]
    funds_available: Annotated[str | None, msgspec.Meta(
        description="what the vault held for it then, beyond what distributions committed"
                    " earlier still owe")]
    commit_tx: str | None
    claim_deadline: datetime | None
    created_at: datetime
    approved_at: datetime | None
    snapshotted_at: datetime | None
    committed_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime


class DistributionPage(msgspec.Struct):
    items: list[Distribution]
    next_cursor: str | None


class HolderEntitlement(msgspec.Struct):
    position: int
    account: str
    balance: str
    gross: str
    withheld: str
    net: str
    leaf_index: int | None
    batch_number: int
    status: str
    skip_reason: str | None
    tx_hash: str | None
    failure_reason: str | None
    attempts: int


class HolderPage(msgspec.Struct):
    items: list[HolderEntitlement]
    next_cursor: str | None


class Batch(msgspec.Struct):
    batch_id: UUID
    number: int
    first_leaf: int
    leaf_count: int
    total_net: str
    gas_limit: int
    status: BatchStatus
    attempts: int
    tx_hashes: list[str]
    last_tx_hash: str | None
    gas_used: int
    paid: int
    failed: int
    already_paid: int
    amount_paid: str
    rejection: Annotated[str | None, msgspec.Meta(
        description="why the batch is BLOCKED (refused submission, or gave up after transient"
                    " failures); cleared when it is submitted again or retried")]
    transient_failures: Annotated[int, msgspec.Meta(
        description="consecutive transient faults since the last submission or retry")]
    retry_at: Annotated[datetime | None, msgspec.Meta(
        description="when the next attempt after a transient fault is due")]
    retries: Annotated[int, msgspec.Meta(
        description="operator (or funds) retries: each puts the batch back to PLANNED")]
    updated_at: datetime


class BatchPage(msgspec.Struct):
    items: list[Batch]
    next_cursor: str | None


class Payment(msgspec.Struct):
    distribution_id: UUID
    asset_id: UUID
    kind: DistributionKind
    record_date: datetime
    distribution_status: Status
    gross: str
    withheld: str
    net: str
    status: str
    skip_reason: str | None
    tx_hash: str | None
    failure_reason: str | None


class PaymentPage(msgspec.Struct):
    account: str
    items: list[Payment]
    next_cursor: str | None


class Health(msgspec.Struct):
    status: str
    checks: dict[str, str]
    projection_lag: dict[str, int]


class FailingItem(msgspec.Struct):
    item: UUID  # a schedule or a distribution
    error: str


class SchedulerStatus(msgspec.Struct):
    """The leading scheduler's last tick; `last_tick_at` null: no scheduler has ticked yet."""

    last_tick_at: datetime | None
    ticks: int
    errors_total: int  # item errors counted over every tick
    failing: list[FailingItem]  # what fails right now (retried every tick), with why


# --- schedules ---


class CadenceIn(msgspec.Struct, forbid_unknown_fields=True):
    """RECURRING: a recurrence, a start and one of `end` (exclusive) or `count`. Corporate
    actions: `trigger` alone, and each dividend/coupon the token declares is paid."""

    recurrence: Recurrence | None = None
    start: datetime | None = None
    end: datetime | None = None
    count: Annotated[int, msgspec.Meta(ge=1, le=10_000)] | None = None
    trigger: Literal["ON_CORPORATE_ACTION_DATE"] | None = None


class ScheduleCreate(msgspec.Struct, forbid_unknown_fields=True):
    asset_id: UUID
    kind: DistributionKind
    cadence: CadenceIn
    rule: RuleIn | None = None  # required when RECURRING; corporate actions bring their own
    missed_policy: MissedPolicy = MissedPolicy.RUN_LATEST
    misfire_grace_seconds: Annotated[int, msgspec.Meta(ge=0, le=86_400)] = 60
    withholding_bps: Bps = 0
    withholding_overrides: Annotated[list[WithholdingOverride],
                                     msgspec.Meta(max_length=10_000)] = []
    excluded: Annotated[list[str], msgspec.Meta(
        max_length=10_000, description="accounts left out of every occurrence")] = []
    minimum_payout: Units = "0"
    concept: Text = ""


class ScheduleWritten(msgspec.Struct):
    schedule_id: UUID
    position: int


class Cadence(msgspec.Struct):
    recurrence: Recurrence | None
    start: datetime | None
    end: datetime | None
    count: int | None
    trigger: Trigger | None


class RuleOut(msgspec.Struct):
    kind: RuleKind
    value: str


class Schedule(msgspec.Struct):
    schedule_id: UUID
    asset_id: UUID
    key: str
    status: ScheduleStatus
    kind: DistributionKind
    rule: RuleOut  # corporate actions: a placeholder, each action's amount is paid instead
    cadence: Cadence
    missed_policy: MissedPolicy
    misfire_grace_seconds: int
    concept: str
    created_by: str
    approved_by: str | None
    paused_reason: str
    next_number: int  # RECURRING: the first occurrence neither spawned nor missed yet
    spawned: int
    missed: int


class Occurrence(msgspec.Struct):
    number: int  # occurrence n of a recurrence, or the token's corporate-action id
    distribution_id: UUID


class ScheduleDetail(Schedule):
    occurrences: list[Occurrence]
    missed_numbers: list[int]


class SchedulePage(msgspec.Struct):
    items: list[Schedule]
    next_cursor: str | None


class RetryRequest(msgspec.Struct, forbid_unknown_fields=True):
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=500)]
    leaf_indices: Annotated[list[int], msgspec.Meta(
        max_length=10_000,
        description="only these failed leaves (none: every failed leaf, and unblock blocked"
                    " batches; []: only unblock blocked batches)")] | None = None


class RetryStarted(msgspec.Struct):
    position: int
    leaves_retried: int
    batches_unblocked: int
    batches_queued: int
    queued_by: Literal["api", "supervisor"]  # supervisor: this process has no job queue
