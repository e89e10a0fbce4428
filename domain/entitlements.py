"""Per-holder entitlements from a record-date snapshot, exact to the smallest unit.

Rounding is named and one-directional: every holder's gross is floored, so the pool is never
over-allotted; what the floors leave behind is `dust`, recorded and kept in the vault. (A
RATE coupon's gross is floor(units * nominal * rate * day-count fraction), one exact ratio
floored once.)
Withholding is floored too (the holder keeps the fraction). For every distribution:

    Σ net + Σ withheld + dust + Σ skipped == gross (the pool)

Holders are ordered by address bytes, whatever order the chain returned them in, so the same
snapshot always yields the same leaves, the same Merkle root and the same batches.
The snapshot is held as compact `(20-byte address, balance)` tuples; entitlements are
produced lazily, one at a time, and never all held at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction

from domain import accounts
from domain.errors import DomainError, InvalidSnapshot, InvalidTerms
from domain.terms import DistributionKind, DistributionTerms, RuleKind
from domain.values import BPS_DENOMINATOR, MAX_AMOUNT, non_negative_amount


class SkipReason(StrEnum):
    EXCLUDED = "EXCLUDED"
    ZERO_BALANCE = "ZERO_BALANCE"
    BELOW_MINIMUM = "BELOW_MINIMUM"
    ZERO_AMOUNT = "ZERO_AMOUNT"  # the floor of a tiny share is 0: nothing to send


class ConservationViolated(DomainError):
    """Internal invariant broken: refuse to record a distribution that does not add up."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Balances at the record date, validated, deduplicated and in canonical order."""

    decimals: int
    holders: list[tuple[bytes, int]]

    @classmethod
    def from_chunks(cls, chunks: Iterable[Iterable[tuple[str, int]]], decimals: int) -> Snapshot:
        rows: list[tuple[bytes, int]] = []
        seen: set[bytes] = set()
        for chunk in chunks:
            for account, balance in chunk:
                raw = accounts.address_bytes(account)
                if raw in seen:
                    raise InvalidSnapshot(f"{accounts.checksum(raw)} appears twice in the snapshot")
                if type(balance) is not int or not 0 <= balance <= MAX_AMOUNT:
                    raise InvalidSnapshot(f"balance of {account} must be an integer in"
                                          " 0..2**256 - 1")
                seen.add(raw)
                rows.append((raw, balance))
        if not rows:
            raise InvalidSnapshot("the snapshot has no holders")
        rows.sort()
        return cls(decimals=decimals, holders=rows)


@dataclass(frozen=True, slots=True)
class Entitlement:
    position: int  # place in the canonical holder order
    account: str  # EIP-55 checksummed
    balance: int
    gross: int
    withheld: int
    net: int
    leaf_index: int | None  # None for a skipped holder: it has no Merkle leaf
    skip_reason: SkipReason | None

    @property
    def skipped_amount(self) -> int:
        """What a skipped holder would have received gross; 0 for one never entitled."""
        return self.gross if self.skip_reason is not None else 0


@dataclass(frozen=True, slots=True)
class Totals:
    holders: int
    eligible: int  # holders with a leaf (to be paid)
    skipped: int
    eligible_balance: int
    gross: int  # the pool: what the rule allots in total
    net: int
    withheld: int
    dust: int
    skipped_amount: int


def leaf_amount(kind: DistributionKind, balance: int, net: int) -> int:
    """The amount a holder's Merkle leaf commits on-chain. A CASH_OUT's leaf is the units the
    vault redeems (it pays floor(units * principal per unit / 10**decimals), the holder's net,
    computed on-chain from the committed rate); every other kind's is the net paid."""
    return balance if kind is DistributionKind.CASH_OUT else net


class Tally:
    """Accumulates totals while entitlements stream past; checks conservation at the end."""

    def __init__(self) -> None:
        self.holders = self.eligible = self.skipped = 0
        self.eligible_balance = self.net = self.withheld = self.skipped_amount = 0
        self.allotted = 0  # Σ floored gross of every holder the rule allotted to

    def add(self, e: Entitlement) -> None:
        self.holders += 1
        self.allotted += e.gross
        if e.skip_reason is None:
            self.eligible += 1
            self.eligible_balance += e.balance
            self.net += e.net
            self.withheld += e.withheld
        else:
            self.skipped += 1
            self.skipped_amount += e.skipped_amount

    def totals(self, pool: int) -> Totals:
        dust = pool - self.allotted
        if dust < 0 or self.net + self.withheld + dust + self.skipped_amount != pool:
            raise ConservationViolated(
                f"pool {pool} != net {self.net} + withheld {self.withheld} + dust {dust}"
                f" + skipped {self.skipped_amount}"
            )
        if self.eligible == 0:
            raise InvalidSnapshot("no holder is eligible: nothing would be paid")
        return Totals(self.holders, self.eligible, self.skipped, self.eligible_balance, pool,
                      self.net, self.withheld, dust, self.skipped_amount)


class EntitlementCalculator:
    """Applies a distribution's terms to a snapshot. Iterate it to get the entitlements."""

    def __init__(self, terms: DistributionTerms, snapshot: Snapshot, asset_decimals: int,
                 vault_balance: int | None = None) -> None:
        if snapshot.decimals != asset_decimals:
            raise InvalidSnapshot(
                f"snapshot has {snapshot.decimals} decimals, the asset {asset_decimals}"
            )
        self.terms = terms
        self.snapshot = snapshot
        self._unit: int = 10**asset_decimals
        # What one smallest unit of the asset earns, as an exact ratio: PER_UNIT value / unit;
        # RATE nominal * rate * day-count fraction / unit. Floored per holder, never before.
        self._earns: tuple[int, int] = self._per_unit(terms)
        self._excluded = {accounts.address_bytes(a) for a in terms.excluded}
        self._withholding = {accounts.address_bytes(a): bps
                             for a, bps in terms.withholding.overrides}
        self.eligible_balance, self.eligible_count = self._denominators()
        self.pool = self._pool(vault_balance)

    def _denominators(self) -> tuple[int, int]:
        total = count = 0
        for raw, balance in self.snapshot.holders:
            if balance > 0 and raw not in self._excluded:
                total += balance
                count += 1
        if count == 0:
            raise InvalidSnapshot("every holder is excluded or has a zero balance")
        return total, count

    def _pool(self, vault_balance: int | None) -> int:
        rule = self.terms.rule
        if rule.kind is RuleKind.PERCENTAGE:
            if vault_balance is None:
                raise InvalidTerms("a PERCENTAGE rule needs the vault balance at the snapshot")
            non_negative_amount(vault_balance, "vault balance")
            pool = vault_balance * rule.value // BPS_DENOMINATOR
        elif rule.kind is RuleKind.PRO_RATA:
            pool = rule.value
        elif rule.kind in (RuleKind.PER_UNIT, RuleKind.RATE):
            numerator, denominator = self._earns
            pool = self.eligible_balance * numerator // denominator
        else:
            pool = rule.value * self.eligible_count
        if pool <= 0:
            raise InvalidTerms(f"{rule.kind} over this snapshot allots nothing (pool {pool})")
        if pool > MAX_AMOUNT:  # every holder's gross is at most the pool: this bounds them all
            raise InvalidTerms(f"{rule.kind} over this snapshot allots more than 2**256 - 1")
        return pool

    def _per_unit(self, terms: DistributionTerms) -> tuple[int, int]:
        rule = terms.rule
        if rule.kind is RuleKind.RATE and rule.accrual is not None:
            earns = Fraction(rule.value, self._unit) * rule.accrual.per_nominal
            return earns.numerator, earns.denominator
        return rule.value, self._unit

    def _gross(self, balance: int) -> int:
        kind = self.terms.rule.kind
        if kind in (RuleKind.PER_UNIT, RuleKind.RATE):
            numerator, denominator = self._earns
            return balance * numerator // denominator
        if kind is RuleKind.FIXED_PER_HOLDER:
            return self.terms.rule.value
        return self.pool * balance // self.eligible_balance  # PRO_RATA and PERCENTAGE

    def __iter__(self) -> Iterator[Entitlement]:
        default_bps = self.terms.withholding.default_bps
        minimum = self.terms.minimum_payout
        leaf = 0
        for position, (raw, balance) in enumerate(self.snapshot.holders):
            account = accounts.checksum(raw)
            if raw in self._excluded:
                yield Entitlement(position, account, balance, 0, 0, 0, None, SkipReason.EXCLUDED)
                continue
            if balance == 0:
                yield Entitlement(position, account, 0, 0, 0, 0, None, SkipReason.ZERO_BALANCE)
                continue
            gross = self._gross(balance)
            withheld = gross * self._withholding.get(raw, default_bps) // BPS_DENOMINATOR
            net = gross - withheld
            reason = (SkipReason.ZERO_AMOUNT if net == 0
                      else SkipReason.BELOW_MINIMUM if net < minimum else None)
            if reason is not None:
                yield Entitlement(position, account, balance, gross, 0, 0, None, reason)
                continue
            yield Entitlement(position, account, balance, gross, withheld, net, leaf, None)
            leaf += 1
