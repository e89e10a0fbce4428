"""`audit verify`: every distribution adds up, and the ledger agrees with the chain.

From the ledger alone, holder by holder (each batch's recorded entitlements):
- conservation: Σ net + Σ withheld + dust + Σ skipped == gross, and Σ net, Σ withheld equal
  the totals frozen at the snapshot;
- the paid total the distribution records equals Σ net of the leaves its batches call paid;
- the money in the vault's care: Σ paid (pushed or claimed) + reclaimed + swept + what is
  still open == funded (the gross: net + withheld + dust + skipped, what an issuer funding
  the whole distribution put in); a sweep never takes more than withheld + dust + skipped,
  and once reclaimed, Σ paid + reclaimed == net (else the vault was short).

With a chain (`w3`), for distributions committed on-chain: `app.reconcile` (the vault's
bitmap leaf by leaf, and its paid total) — the same check the demo ends with, not a copy.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from uuid import UUID

from web3 import Web3

from app.follow import notifications
from app.ledger import PayoutLedger
from app.reconcile import reconcile
from domain.batch import PAID_OUTCOMES
from domain.distribution import Distribution
from domain.treasury import TreasuryKind, TreasuryState

COLUMNS = ("distribution_id", "status", "holders", "gross", "net", "withheld", "dust",
           "skipped", "ledger_paid", "reclaimed", "swept", "funded", "chain_paid",
           "chain_checked", "ok", "differences")


@dataclass
class DistributionAudit:
    """One distribution's figures (smallest units) and every difference found."""

    distribution_id: UUID
    status: str
    holders: int = 0
    gross: int = 0
    net: int = 0  # Σ over the holders' recorded entitlements
    withheld: int = 0
    dust: int = 0
    skipped: int = 0  # Σ gross of skipped holders
    ledger_paid: int = 0  # Σ net of leaves the batches call paid (or claimed)
    reclaimed: int = 0  # returned to the treasury after the claim deadline
    swept: int = 0  # withheld, dust and skipped amounts sent to the treasury
    funded: int = 0  # the gross: what the distribution accounts for
    chain_paid: int | None = None  # the vault's paid total, when the chain was checked
    chain_checked: bool = False
    differences: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.differences

    def row(self) -> dict[str, object]:
        """The report's row, in `COLUMNS` order (JSON and CSV)."""
        return {"distribution_id": str(self.distribution_id), "status": self.status,
                "holders": self.holders, "gross": self.gross, "net": self.net,
                "withheld": self.withheld, "dust": self.dust, "skipped": self.skipped,
                "ledger_paid": self.ledger_paid, "reclaimed": self.reclaimed,
                "swept": self.swept, "funded": self.funded, "chain_paid": self.chain_paid,
                "chain_checked": self.chain_checked, "ok": self.ok,
                "differences": "; ".join(self.differences)}


def distribution_ids(ledger: PayoutLedger) -> Iterator[UUID]:
    """Every distribution ever created, in the order they were."""
    for note in notifications(ledger, Distribution.Created):
        yield UUID(str(note.originator_id))


def audit_distribution(ledger: PayoutLedger, distribution_id: UUID,
                       w3: Web3 | None = None) -> DistributionAudit:
    distribution = ledger.get_distribution(distribution_id)
    result = DistributionAudit(distribution_id, distribution.status.value)
    totals = distribution.totals
    if totals is None:
        return result  # not snapshotted: nothing is owed to anyone yet
    result.gross, result.dust = totals.gross, totals.dust
    for batch in ledger.batches(distribution_id):
        for holder in batch.holders:
            result.holders += 1
            if holder.leaf_index is None:
                result.skipped += holder.skipped_amount
                continue
            result.net += holder.net
            result.withheld += holder.withheld
            if batch.outcomes.get(holder.leaf_index) in PAID_OUTCOMES:
                result.ledger_paid += holder.net
    diff = result.differences
    if result.holders != totals.holders:
        diff.append(f"{result.holders} holders recorded, the snapshot counted {totals.holders}")
    if result.net != totals.net:
        diff.append(f"Σ net {result.net} != the snapshot's net {totals.net}")
    if result.withheld != totals.withheld:
        diff.append(f"Σ withheld {result.withheld} != the snapshot's withheld {totals.withheld}")
    conserved = result.net + result.withheld + result.dust + result.skipped
    if conserved != result.gross:
        diff.append(f"not conserved: net {result.net} + withheld {result.withheld} + dust"
                    f" {result.dust} + skipped {result.skipped} = {conserved} != gross"
                    f" {result.gross}")
    if distribution.amount_paid != result.ledger_paid:
        diff.append(f"the distribution records {distribution.amount_paid} paid, its batches"
                    f" {result.ledger_paid}")
    _check_treasury(result, distribution)
    if w3 is not None and distribution.commit_tx is not None:
        reconciled = reconcile(ledger, w3, distribution_id)
        result.chain_checked, result.chain_paid = True, reconciled.chain_paid
        diff.extend(f"chain: {d}" for d in reconciled.differences)
    return result


def _check_treasury(result: DistributionAudit, distribution: Distribution) -> None:
    """Σ paid + reclaimed + swept + open == funded. With conservation (checked above) it
    holds exactly when no sweep took more than the distribution left beyond its net and a
    reclaim returned all that was unpaid: those two are what is checked."""
    result.reclaimed, result.swept = distribution.reclaimed, distribution.swept
    result.funded = result.gross
    diff = result.differences
    beyond_net = result.withheld + result.dust + result.skipped
    if result.swept > beyond_net:
        diff.append(f"swept {result.swept}, more than withheld + dust + skipped {beyond_net}")
    reclaim_done = any(op.kind is TreasuryKind.RECLAIM and op.state is TreasuryState.DONE
                       for op in distribution.treasury_ops.values())
    unpaid = result.net - result.ledger_paid - result.reclaimed
    if reclaim_done and unpaid:
        diff.append(f"reclaimed {result.reclaimed} of {result.net - result.ledger_paid} unpaid:"
                    f" the vault was short by {unpaid}")


def audit_distributions(ledger: PayoutLedger, w3: Web3 | None = None,
                        only: Iterable[UUID] | None = None) -> Iterator[DistributionAudit]:
    """`audit_distribution` for each of `only`, or for every distribution (lazily)."""
    for distribution_id in (distribution_ids(ledger) if only is None else only):
        yield audit_distribution(ledger, distribution_id, w3)
