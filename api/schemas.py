"""Request and response bodies: msgspec Structs in `Thing` / `ThingCreate` shapes.

Amounts travel as strings of digits (smallest units): they exceed what JSON numbers carry
safely through most clients.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec

from app import bonds, commands

# The commands' parts, under the names the API document has always used.
from app.commands import Account as Account
from app.commands import Bps as Bps
from app.commands import CadenceIn as CadenceIn
from app.commands import ExecutionIn as ExecutionIn
from app.commands import RuleIn as RuleIn
from app.commands import Text as Text
from app.commands import Units as Units
from app.commands import WithholdingOverride as WithholdingOverride
from app.schedules import Cadence as Cadence
from app.schedules import Occurrence as Occurrence
from app.schedules import RuleOut as RuleOut
from app.schedules import Schedule as Schedule
from app.schedules import ScheduleDetail as ScheduleDetail
from domain.accounts import ACCOUNT_PATTERN as ACCOUNT_PATTERN  # the domain's grammar
from domain.asset import AssetKind
from domain.batch import BatchStatus
from domain.distribution import Status
from domain.entitlements import SkipReason
from domain.rails import Rail
from domain.terms import DistributionKind, ExecutionKind, RuleKind
from domain.treasury import SweepDestination
from domain.vault_admin import VaultAction


class ProblemDetails(msgspec.Struct):
    """RFC 9457: every 4xx/5xx answer, as application/problem+json."""

    type: str
    title: str
    status: int
    detail: str
    instance: str
    errors: list[Any] | dict[str, Any] | None = None  # validation errors, where any
    field: str | None = None  # the command's field a domain refusal is about, where one is


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


HolderView = Literal["snapshot", "live"]


class AssetHolder(msgspec.Struct):
    """A holder of the asset. In the `snapshot` view: its balance at the asset's latest
    snapshot, the distribution that took it and when. In the `live` view: its balance now,
    folded from the token's ingested transfers; `distribution_id` is null, `updated_at` is
    when it was last seen in a transfer, with `first_seen_at` and `last_tx_hash`."""

    account: str
    balance: str
    distribution_id: UUID | None
    updated_at: datetime
    first_seen_at: datetime | None = None
    last_tx_hash: str | None = None


class AssetHolderPage(msgspec.Struct):
    items: list[AssetHolder]
    next_cursor: str | None
    view: HolderView = "snapshot"


class PauseRequest(msgspec.Struct, forbid_unknown_fields=True):
    reason: Text = ""


class SyncRequest(msgspec.Struct, forbid_unknown_fields=True):
    enabled: bool


class CancelRequest(msgspec.Struct, forbid_unknown_fields=True):
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=500)]










class DistributionCreate(commands.CreateDistribution, forbid_unknown_fields=True):
    """The body of POST /distributions: the application's command, as sent."""


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
    reclaimed: Annotated[str, msgspec.Meta(
        description="returned to the vault's treasury after the claim deadline")]
    swept: Annotated[str, msgspec.Meta(
        description="withheld, dust and skipped amounts swept to the vault's treasury")]
    units_redeemed: Annotated[str | None, msgspec.Meta(
        description="a CASH_OUT's bond units redeemed so far (its holders paid or claimed),"
                    " in the bond token's smallest units (its decimals); null for other kinds."
                    " The principal they were paid is amount_paid")] = None
    units_outstanding: Annotated[str | None, msgspec.Meta(
        description="a CASH_OUT's bond units of its eligible holders not yet redeemed, in the"
                    " bond token's smallest units; null for other kinds and before the"
                    " snapshot")] = None
    pending_claim_count: Annotated[int, msgspec.Meta(
        description="HTS rail: holders not associated with the token whose airdrop waits for"
                    " their claim (not paid yet: the tokens are still the payer's)")] = 0
    pending_claim_amount: Annotated[str, msgspec.Meta(
        description="HTS rail: the sum of those pending airdrops, in smallest units")] = "0"
    rail: Annotated[Rail, msgspec.Meta(
        description="how it pays: VAULT (the PayoutVault contract) or HTS (native Hedera"
                    " token transfers)")] = Rail.VAULT
    commitment_topic: Annotated[str | None, msgspec.Meta(
        description="HTS: the HCS topic its commitment (Merkle root, token, totals) was"
                    " published to before paying; null until then and for VAULT")] = None
    commitment_sequence: Annotated[int | None, msgspec.Meta(
        description="HTS: the commitment's sequence number on that topic")] = None


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






class BondTermsSet(bonds.SetBondTerms, forbid_unknown_fields=True):
    """The body of PUT /assets/{asset_id}/bond-terms: the application's command, as sent."""


class CouponScheduleCreate(bonds.DefineCouponSchedule, forbid_unknown_fields=True):
    """The body of POST /assets/{asset_id}/coupon-schedule."""


class ScheduleCreate(commands.DefineSchedule, forbid_unknown_fields=True):
    """The body of POST /schedules: the application's command, as sent."""


class ScheduleWritten(msgspec.Struct):
    schedule_id: UUID
    position: int












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


# --- previews and holder statements ---


class PreviewSkippedHolder(msgspec.Struct):
    position: int
    account: str
    balance: str
    gross: Annotated[str, msgspec.Meta(
        description="what the rule allotted before the holder was skipped (0 if never)")]
    reason: SkipReason


class SkippedCounts(msgspec.Struct):
    """Skipped holders per reason (domain.entitlements.SkipReason)."""

    EXCLUDED: int
    ZERO_BALANCE: int
    BELOW_MINIMUM: int
    ZERO_AMOUNT: int


class DistributionPreview(msgspec.Struct):
    """What POST /distributions would create, frozen from the asset's holders known now
    (its latest snapshot): the totals, root and batches the snapshot would record. Nothing
    was recorded."""

    preview: Annotated[Literal[True], msgspec.Meta(
        description="always true: a preview, nothing was recorded")]
    asset_id: UUID
    holders: int
    eligible: int
    skipped: int
    gross: str
    net: str
    withheld: str
    dust: str
    skipped_amount: str
    merkle_root: Annotated[str, msgspec.Meta(description="the root the snapshot would commit")]
    batch_count: int
    estimated_gas: Annotated[int, msgspec.Meta(
        description="sum of the gas limits of the batches that would send a transaction (the"
                    " planner's gas model: an upper bound)")]
    skipped_by_reason: SkippedCounts
    skipped_holders: Annotated[list[PreviewSkippedHolder], msgspec.Meta(
        description="the first skipped holders in ledger order, at most skipped_limit")]


class StatementEntry(msgspec.Struct):
    """One distribution's entitlement of the account, with what became of it."""

    distribution_id: UUID
    asset_id: UUID
    asset_symbol: str | None
    payment_token: Annotated[str | None, msgspec.Meta(
        description="the token the amounts are paid in (null: the asset's read model lags)")]
    payment_decimals: int | None
    kind: DistributionKind
    concept: str
    record_date: datetime
    distribution_status: Status
    balance: str
    gross: str
    withheld: str
    net: str
    status: str
    skip_reason: str | None
    tx_hash: str | None
    failure_reason: str | None
    attempts: int
    created_at: datetime


class StatementPage(msgspec.Struct):
    account: Annotated[str, msgspec.Meta(description="the account, checksummed")]
    items: list[StatementEntry]
    next_cursor: str | None


class ReclaimRequest(msgspec.Struct, forbid_unknown_fields=True):
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=500)]


class SweepRequest(msgspec.Struct, forbid_unknown_fields=True):
    amount: Annotated[str, msgspec.Meta(
        pattern=r"^[1-9][0-9]{0,77}$",
        description="smallest units, at most what the distribution left beyond its net"
                    " (withheld + dust + skipped) less other sweeps; to TAX_AUTHORITY at most"
                    " the tax withheld, to DUST at most the dust")]
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=500)]
    destination: Annotated[SweepDestination, msgspec.Meta(
        description="TREASURY (the vault's), or the account the asset configured for"
                    " TAX_AUTHORITY or DUST (PUT /assets/{asset_id}/sweep-accounts)")] = \
        SweepDestination.TREASURY


class VaultRequestCreate(msgspec.Struct, forbid_unknown_fields=True):
    """The body of POST /assets/{asset_id}/vault/requests."""

    action: VaultAction
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=500)]
    role: Annotated[str, msgspec.Meta(
        max_length=32, description="GRANT/REVOKE: DEFAULT_ADMIN, APPROVER, OPERATOR, PAUSER,"
                                   " TREASURER or UPGRADER")] | None = None
    account: Annotated[str, msgspec.Meta(
        max_length=128, description="GRANT/REVOKE: the account (EVM address or Hedera id)")
    ] | None = None
    target: Annotated[str, msgspec.Meta(
        max_length=64, description="UPGRADE: the new implementation's contract (an artifact"
                                   " name); refused unless it keeps the vault's storage")
    ] | None = None


class SweepAccounts(msgspec.Struct, forbid_unknown_fields=True):
    """Where an asset's sweeps send withheld tax and dust; null: not configured (a sweep
    there is refused). The vault's admin must also allow each on-chain (`setSweepAccount`)."""

    tax_authority: Account | None = None
    dust: Account | None = None


class SweepAccountsSet(SweepAccounts, forbid_unknown_fields=True):
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=500)] = \
        "sweep accounts configured"


class SweepAccount(msgspec.Struct):
    """One configured sweep account: who set this account, when, and why."""

    destination: Literal["TAX_AUTHORITY", "DUST"]
    account: str
    set_by: str
    set_at: datetime
    reason: str


class SweepAccountsView(msgspec.Struct):
    """GET /assets/{asset_id}/sweep-accounts: both accounts (null: not configured), and each
    configured one with who set it (the `sweep_accounts` read model)."""

    tax_authority: str | None
    dust: str | None
    accounts: list[SweepAccount]
