"""Preview: what a distribution would be if it were created now and frozen from the holders
known now, recorded nowhere.

The operator checks the totals, the skipped holders, the batches and the gas before making
the real thing. So the preview must answer what creation then snapshot will record: it
accepts the same command (`CreateDistribution`), refuses what creation refuses with the same
errors, and runs the domain function the ledger's `snapshot_distribution` runs
(`domain.snapshot_plan.plan_snapshot`), with the same gas model the processes are built
with. Nothing is saved: no event, no idempotency key.

The holders come from a `HoldersSource`, a callable injected by the caller (the API and the
panel read the `asset_holders` read model: the balances of the asset's latest snapshot);
it is called only once the command passed every check, so bad input costs no holder read.
A PERCENTAGE rule depends on the vault's balance at the snapshot, which only the caller can
read: without `vault_balance` it is refused (422) as the snapshot would refuse it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from uuid import UUID

from app.commands import CreateDistribution, terms_of
from app.ledger import PayoutLedger
from domain.entitlements import Entitlement, SkipReason, Snapshot
from domain.errors import InvalidInput, InvalidSnapshot, InvalidTerms
from domain.planning import GasModel
from domain.rails import Rail, check_rail
from domain.redemption import check_cash_out
from domain.snapshot_plan import batch_gas_model, plan_snapshot
from domain.terms import DistributionTerms, ExecutionKind, Trigger

# An asset's holders as `(account, balance)` pages, like a token snapshot read page by page.
HolderPages = Iterable[Iterable[tuple[str, int]]]
HoldersSource = Callable[[UUID], HolderPages]
SKIPPED_SAMPLE = 20


class NoHolderData(InvalidSnapshot):
    """Nothing is known of the asset's holders yet (→ 422): no snapshot of it was taken."""


@dataclass(frozen=True, slots=True)
class SkippedHolder:
    position: int
    account: str
    balance: int
    gross: int  # what the rule allotted before the holder was skipped (0 if never entitled)
    reason: SkipReason


@dataclass(frozen=True, slots=True)
class Preview:
    """The distribution's totals as `snapshot_distribution` would record them, and more."""

    asset_id: UUID
    holders: int
    eligible: int
    skipped: int
    gross: int  # the pool
    net: int
    withheld: int
    dust: int
    skipped_amount: int
    merkle_root: str  # 0x-prefixed, as the Distribution records it
    batches: int  # PayoutBatch aggregates planned (a batch of only skipped holders counts)
    estimated_gas: int  # Σ gas limits of the batches that send a transaction
    skipped_by_reason: dict[SkipReason, int]  # every reason, 0 included
    skipped_holders: list[SkippedHolder]  # the first ones, in ledger order


def check_creatable(ledger: PayoutLedger, body: CreateDistribution
                    ) -> tuple[DistributionTerms, int]:
    """What `create_distribution` checks before recording, without recording: returns the
    terms and the asset's decimals. Mirrors `PayoutLedger.create_distribution`'s refusals
    and their messages (kept in step by tests/api/test_preview.py)."""
    asset = ledger.get_asset(body.asset_id)  # NotFound → 404
    terms = terms_of(body, asset)
    check_rail(body.rail, chain_id=asset.chain_id, payment_token=asset.payment_token,
               kind=terms.kind, trigger=terms.execution.trigger)
    if asset.paused:
        raise InvalidInput(f"asset {asset.symbol} is paused")
    if terms.execution.kind is ExecutionKind.RECURRING \
            or terms.execution.trigger is Trigger.ON_CORPORATE_ACTION_DATE:
        raise InvalidTerms(f"{terms.execution.kind} {terms.execution.trigger or ''}".strip()
                           + " spawns many distributions: define a schedule instead")
    check_cash_out(asset, terms)
    return terms, asset.decimals


def preview_distribution(ledger: PayoutLedger, holders_source: HoldersSource,
                         body: CreateDistribution, *, gas_model: GasModel | None = None,
                         vault_balance: int | None = None,
                         skipped_sample: int = SKIPPED_SAMPLE) -> Preview:
    """The distribution `body` would create, frozen from `holders_source(asset_id)` now.

    Reads the ledger (the asset) and the holders; records nothing. Raises the domain's errors
    exactly where creation and snapshot would (NotFound, InvalidInput and its kinds), and
    NoHolderData when the source knows no holder of the asset.
    """
    terms, decimals = check_creatable(ledger, body)
    model = gas_model or GasModel()
    seen = 0

    def counted() -> Iterator[Iterable[tuple[str, int]]]:
        nonlocal seen
        for page in holders_source(body.asset_id):
            rows = list(page)
            seen += len(rows)
            yield rows

    try:
        snapshot = Snapshot.from_chunks(counted(), decimals=decimals)
    except InvalidSnapshot:
        if seen == 0:
            raise NoHolderData(f"no holder of asset {body.asset_id} is known yet: neither an"
                               " earlier snapshot nor the token (read now) lists one") from None
        raise
    by_reason = dict.fromkeys(SkipReason, 0)
    sample: list[SkippedHolder] = []

    def observe(e: Entitlement) -> None:
        if e.leaf_index is None and e.skip_reason is not None:
            by_reason[e.skip_reason] += 1
            if len(sample) < skipped_sample:
                sample.append(SkippedHolder(e.position, e.account, e.balance, e.gross,
                                            e.skip_reason))

    # The very function PayoutLedger.snapshot_distribution records.
    model = batch_gas_model(terms, model)  # as the snapshot: a cash-out's costs more
    planned = plan_snapshot(terms, snapshot, decimals, vault_balance, model, observe,
                            rail=body.rail)
    totals, tree = planned.totals, planned.tree
    leaf_counts = [plan.leaf_count for plan in planned.batches]
    gas = 0 if body.rail is Rail.HTS else \
        sum(model.gas_limit(n, tree.leaf_count) for n in leaf_counts if n)
    return Preview(
        asset_id=body.asset_id, holders=totals.holders, eligible=totals.eligible,
        skipped=totals.skipped, gross=totals.gross, net=totals.net, withheld=totals.withheld,
        dust=totals.dust, skipped_amount=totals.skipped_amount,
        merkle_root="0x" + tree.root.hex(), batches=len(leaf_counts), estimated_gas=gas,
        skipped_by_reason=by_reason, skipped_holders=sample)
