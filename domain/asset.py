"""Asset: a security token the issuer pays on, as imported from its contract.

A BOND also keeps its terms (`BondTerms`): the nominal value and maturity the token declares,
read at import, and the coupon's rate, frequency, day count and dates, which the reference
token does not carry and an operator records. Either kind of change is a `BondTermsUpdated`.
The currency is the asset's payment token.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from enum import StrEnum
from fractions import Fraction
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain import accounts, ids
from domain.daycount import PERIOD_MONTHS, DayCount, is_month_end, roll
from domain.errors import IllegalTransition, InvalidInput, InvalidTerms
from domain.recurrence import occurrences
from domain.terms import (
    Accrual,
    Execution,
    ExecutionKind,
    Recurrence,
    Rule,
    RuleKind,
    coupon_rate,
)
from domain.values import decimals, positive_amount, utc

MAX_BOND_YEARS = 100
_CADENCES = {1: Recurrence.MONTHLY, 3: Recurrence.QUARTERLY, 6: Recurrence.SEMI_ANNUAL,
             12: Recurrence.ANNUAL}


@dataclass(frozen=True, slots=True)
class BondTerms:
    """A bond's facts. The coupon fields are all set, or all None (a zero-coupon bond, or
    terms not recorded yet). Coupon dates roll forward from `first_coupon_date` when given,
    else backward from maturity; the first period runs from the issue date (it may be short
    or long), and a maturity off the grid makes the last one irregular."""

    nominal_value: int  # payment-token smallest units per whole token, repaid at maturity
    maturity_date: date
    issue_date: date | None = None
    coupon_rate: Fraction | None = None  # annual, exact
    coupon_months: int | None = None  # 12 / frequency: 3 quarterly, 6 semi-annual, 12 annual
    day_count: DayCount | None = None
    first_coupon_date: date | None = None
    end_of_month: bool = False

    def __post_init__(self) -> None:
        positive_amount(self.nominal_value, "a bond's nominal value")
        if self.coupon_rate is not None:
            object.__setattr__(self, "coupon_rate", coupon_rate(self.coupon_rate))
        if self.day_count is not None:
            try:
                object.__setattr__(self, "day_count", DayCount(self.day_count))
            except ValueError:
                raise InvalidTerms(f"day count {self.day_count!r} is not one of"
                                   f" {', '.join(DayCount)}") from None
        coupon = (self.coupon_rate, self.coupon_months, self.day_count, self.issue_date)
        if any(v is not None for v in coupon[:3]) and any(v is None for v in coupon):
            raise InvalidTerms("a coupon needs its rate, frequency, day count and the issue"
                               " date, all four")
        if self.coupon_months is not None and self.coupon_months not in PERIOD_MONTHS:
            raise InvalidTerms(f"a coupon period is {sorted(PERIOD_MONTHS)} months, not"
                               f" {self.coupon_months!r}")
        if self.issue_date is not None:
            if self.issue_date >= self.maturity_date:
                raise InvalidTerms(f"a bond matures ({self.maturity_date}) after its issue"
                                   f" ({self.issue_date})")
            if self.maturity_date.year - self.issue_date.year > MAX_BOND_YEARS:
                raise InvalidTerms(f"a bond runs at most {MAX_BOND_YEARS} years")
        first, issue = self.first_coupon_date, self.issue_date
        if first is not None and (self.coupon_months is None or not (
                (issue is None or issue < first) and first <= self.maturity_date)):
            raise InvalidTerms("the first coupon date lies after the issue date, on or before"
                               " maturity, and only with a coupon")

    @property
    def pays_coupons(self) -> bool:
        return self.coupon_rate is not None

    def _coupon(self) -> tuple[Fraction, int, DayCount, date]:
        if self.coupon_rate is None or self.coupon_months is None or self.day_count is None \
                or self.issue_date is None:
            raise InvalidTerms("the bond's coupon terms (rate, frequency, day count, issue"
                               " date) are not recorded")
        return self.coupon_rate, self.coupon_months, self.day_count, self.issue_date

    @property
    def anchor(self) -> date:
        """The regular coupon date the grid of coupon dates rolls from."""
        return self.first_coupon_date or self.maturity_date

    def coupon_dates(self) -> list[date]:
        """Every coupon date, the last at maturity."""
        _, months, _, issue = self._coupon()
        dates: list[date] = []
        if self.first_coupon_date is not None:
            while (d := roll(self.first_coupon_date, len(dates) * months,
                             self.end_of_month)) < self.maturity_date:
                dates.append(d)
            return [*dates, self.maturity_date]
        while (d := roll(self.maturity_date, -len(dates) * months, self.end_of_month)) > issue:
            dates.append(d)
        return dates[::-1]

    def coupon_period(self, number: int) -> tuple[date, date]:
        """Coupon `number`'s (1-based) accrual period [start, end)."""
        dates = self.coupon_dates()
        if type(number) is not int or not 1 <= number <= len(dates):
            raise InvalidTerms(f"the bond pays coupons 1..{len(dates)}, not {number!r}")
        start = self._coupon()[3] if number == 1 else dates[number - 2]
        return start, dates[number - 1]

    def accrual(self, start: date, end: date) -> Accrual:
        rate, months, day_count, _ = self._coupon()
        return Accrual(rate=rate, day_count=day_count, start=start, end=end, months=months,
                       anchor=self.anchor, end_of_month=self.end_of_month)

    def coupon_rule(self, number: int) -> Rule:
        """The RATE rule paying coupon `number`: per holder floor(units * nominal * rate *
        day-count fraction of its period)."""
        return Rule(RuleKind.RATE, self.nominal_value, self.accrual(*self.coupon_period(number)))

    def coupon_cadence(self) -> Execution:
        """A RECURRING cadence whose occurrences are the coupon dates (midnight UTC), the
        last at maturity: one schedule pays every coupon. Refused when the dates are not one
        regular cadence (an irregular last period): that coupon is then defined by hand."""
        _, months, _, _ = self._coupon()
        dates = self.coupon_dates()
        start = datetime.combine(dates[0], time(), UTC)
        recurrence = _CADENCES.get(months, Recurrence.MONTHLY)
        interval = None if months in _CADENCES else months
        for eom in dict.fromkeys([self.end_of_month, is_month_end(dates[0])]):
            cadence = Execution(ExecutionKind.RECURRING, recurrence=recurrence, start=start,
                                count=len(dates), interval=interval, end_of_month=eom)
            if [due.date() for _, due in occurrences(cadence)] == dates:
                return cadence
        raise InvalidTerms("the coupon dates are not one regular cadence (an irregular last"
                           " period): define the last coupon by hand")

    def to_event(self) -> dict[str, Any]:
        def day(d: date | None) -> str | None:
            return d.isoformat() if d else None

        return {"nominal_value": self.nominal_value, "maturity_date": day(self.maturity_date),
                "issue_date": day(self.issue_date),
                "coupon_rate": str(self.coupon_rate) if self.coupon_rate is not None else None,
                "coupon_months": self.coupon_months,
                "day_count": self.day_count.value if self.day_count else None,
                "first_coupon_date": day(self.first_coupon_date),
                "end_of_month": self.end_of_month}

    @classmethod
    def from_event(cls, data: dict[str, Any]) -> BondTerms:
        def day(text: str | None) -> date | None:
            return date.fromisoformat(text) if text else None

        rate = data.get("coupon_rate")
        maturity = day(data["maturity_date"])
        assert maturity is not None
        return cls(nominal_value=data["nominal_value"], maturity_date=maturity,
                   issue_date=day(data.get("issue_date")),
                   coupon_rate=Fraction(rate) if rate is not None else None,
                   coupon_months=data.get("coupon_months"), day_count=data.get("day_count"),
                   first_coupon_date=day(data.get("first_coupon_date")),
                   end_of_month=data.get("end_of_month", False))


class AssetKind(StrEnum):
    EQUITY = "EQUITY"
    BOND = "BOND"


@dataclass(frozen=True, slots=True)
class CorporateAction:
    action_id: int
    kind: str  # DIVIDEND | COUPON
    record_date: datetime
    execution_date: datetime
    amount_per_unit: int


class Asset(Aggregate):
    class Imported(Aggregate.Created):
        chain_id: int
        token_address: str
        name: str
        symbol: str
        decimals: int
        kind: str
        payment_token: str
        payment_decimals: int
        vault_address: str | None
        actor: str

    class Paused(Aggregate.Event):
        actor: str
        reason: str

    class Resumed(Aggregate.Event):
        actor: str

    class SyncSwitched(Aggregate.Event):
        enabled: bool
        actor: str

    class VaultLinked(Aggregate.Event):
        vault_address: str
        actor: str

    class DepositReceived(Aggregate.Event):
        """Payment token arrived in the asset's vault (a final chain fact)."""

        token: str
        sender: str
        amount: int
        tx_hash: str

    class SnapshotObserved(Aggregate.Event):
        """The token took a balance snapshot (a record date candidate)."""

        snapshot_id: int
        tx_hash: str
        block_number: int

    class CorporateActionRecorded(Aggregate.Event):
        """A dividend or coupon the token contract declares (ATS corporate action)."""

        action_id: int
        kind: str  # DIVIDEND | COUPON
        record_date: datetime
        execution_date: datetime
        amount_per_unit: int

    class BondTermsUpdated(Aggregate.Event):
        """The bond's terms, whole: read from the token at import (or when it changed), or
        recorded by an operator (the coupon's rate, frequency, day count and dates)."""

        terms: dict[str, Any]  # BondTerms.to_event()
        reason: str
        actor: str

    class RedemptionsObserved(Aggregate.Event):
        """The token's `ControllerRedemption` logs of one transaction by the vault that paid
        a distribution in it (a cash-out batch, or a claim): `units` of `holders` holders."""

        distribution_id: UUID
        tx_hash: str
        units: int
        holders: int

    class SweepAccountsSet(Aggregate.Event):
        """Where this asset's sweeps may send withheld tax and dust (None: not configured)."""

        tax_authority: str | None
        dust: str | None
        reason: str
        actor: str

    @staticmethod
    def create_id(chain_id: int, token_address: str) -> UUID:
        return ids.asset_id(chain_id, token_address)

    @classmethod
    def import_token(cls, *, chain_id: int, token_address: str, name: str, symbol: str,
                     decimals_: int, kind: AssetKind | str, payment_token: str,
                     payment_decimals: int, vault_address: str | None, actor: str) -> Asset:
        """Validate the token's facts, then record them."""
        if type(chain_id) is not int or chain_id <= 0:
            raise InvalidInput(f"chain id must be a positive integer, got {chain_id!r}")
        if not name.strip() or not symbol.strip():
            raise InvalidInput("a token needs a name and a symbol")
        try:
            asset_kind = AssetKind(kind)
        except ValueError:
            raise InvalidInput(f"asset kind must be EQUITY or BOND, got {kind!r}") from None
        return cls(
            chain_id=chain_id,
            token_address=accounts.canonical(token_address),
            name=name.strip(),
            symbol=symbol.strip(),
            decimals=decimals(decimals_, "token decimals"),
            kind=asset_kind.value,
            payment_token=accounts.canonical(payment_token),
            payment_decimals=decimals(payment_decimals, "payment token decimals"),
            vault_address=accounts.canonical(vault_address) if vault_address else None,
            actor=actor,
        )

    @event(Imported)
    def __init__(self, chain_id: int, token_address: str, name: str, symbol: str,
                 decimals: int, kind: str, payment_token: str, payment_decimals: int,
                 vault_address: str | None, actor: str) -> None:
        self.chain_id = chain_id
        self.token_address = token_address
        self.name = name
        self.symbol = symbol
        self.decimals = decimals
        self.kind = AssetKind(kind)
        self.payment_token = payment_token
        self.payment_decimals = payment_decimals
        self.vault_address = vault_address
        self.imported_by = actor
        self.paused = False
        self.sync_enabled = True
        self.corporate_actions: dict[int, CorporateAction] = {}
        self.deposited = 0
        self.snapshots: dict[int, int] = {}  # snapshot id → block
        self.bond_terms: BondTerms | None = None

    def pause(self, actor: str, reason: str = "") -> None:
        if self.paused:
            raise IllegalTransition(f"asset {self.symbol} is already paused")
        self._paused(actor=actor, reason=reason)

    @event(Paused)
    def _paused(self, actor: str, reason: str) -> None:
        self.paused = True

    def resume(self, actor: str) -> None:
        if not self.paused:
            raise IllegalTransition(f"asset {self.symbol} is not paused")
        self._resumed(actor=actor)

    @event(Resumed)
    def _resumed(self, actor: str) -> None:
        self.paused = False

    def switch_sync(self, enabled: bool, actor: str) -> None:
        if enabled == self.sync_enabled:
            raise IllegalTransition(f"sync is already {'on' if enabled else 'off'}")
        self._sync_switched(enabled=enabled, actor=actor)

    @event(SyncSwitched)
    def _sync_switched(self, enabled: bool, actor: str) -> None:
        self.sync_enabled = enabled

    def link_vault(self, vault_address: str, actor: str) -> None:
        address = accounts.canonical(vault_address)
        if self.vault_address is not None:
            raise IllegalTransition(f"asset already pays through vault {self.vault_address}")
        self._vault_linked(vault_address=address, actor=actor)

    @event(VaultLinked)
    def _vault_linked(self, vault_address: str, actor: str) -> None:
        self.vault_address = vault_address

    def record_corporate_action(self, *, action_id: int, kind: str, record_date: datetime,
                                execution_date: datetime, amount_per_unit: int) -> bool:
        """Record an action read from the token; True if it was new. Re-reading is a no-op."""
        if kind not in {"DIVIDEND", "COUPON"}:
            raise InvalidInput(f"corporate action kind must be DIVIDEND or COUPON, got {kind!r}")
        if type(amount_per_unit) is not int or amount_per_unit < 0:
            raise InvalidInput("a corporate action's amount per unit is a non-negative integer")
        record, execution = utc(record_date, "record date"), utc(execution_date, "execution date")
        known = self.corporate_actions.get(action_id)
        if known is not None:
            same = (known.kind, known.record_date, known.execution_date,
                    known.amount_per_unit) == (kind, record, execution, amount_per_unit)
            if not same:
                raise IllegalTransition(f"corporate action {action_id} changed on-chain")
            return False
        self._corporate_action_recorded(action_id=action_id, kind=kind, record_date=record,
                                        execution_date=execution, amount_per_unit=amount_per_unit)
        return True

    @event(CorporateActionRecorded)
    def _corporate_action_recorded(self, action_id: int, kind: str, record_date: datetime,
                                   execution_date: datetime, amount_per_unit: int) -> None:
        self.corporate_actions[action_id] = CorporateAction(
            action_id, kind, record_date, execution_date, amount_per_unit)

    def update_bond_terms(self, terms: BondTerms, *, actor: str, reason: str,
                          now: datetime | None = None) -> bool:
        """Record the bond's terms; True if they changed. Re-recording the same is a no-op.

        With `now` (an import), a maturity already past is refused: nothing to pay on."""
        if self.kind is not AssetKind.BOND:
            raise InvalidInput(f"{self.symbol} is {self.kind}, not a BOND: it has no bond terms")
        if not isinstance(terms, BondTerms):
            raise InvalidInput("bond terms are a BondTerms")
        if now is not None and terms.maturity_date <= utc(now, "now").date():
            raise InvalidTerms(f"the bond matured on {terms.maturity_date}: a maturity in the"
                               " past cannot be imported")
        if terms == self.bond_terms:
            return False
        self._bond_terms_updated(terms=terms.to_event(), reason=reason[:500], actor=actor)
        return True

    @event(BondTermsUpdated)
    def _bond_terms_updated(self, terms: dict[str, Any], reason: str, actor: str) -> None:
        self.bond_terms = BondTerms.from_event(terms)

    @property
    def redemptions(self) -> dict[UUID, dict[str, int]]:
        """Units redeemed per distribution and transaction, from the token's own logs;
        streams recorded before they were ingested have none."""
        found: dict[UUID, dict[str, int]] = self.__dict__.setdefault("_redemptions", {})
        return found

    def units_redeemed_for(self, distribution_id: UUID) -> int:
        return sum(self.redemptions.get(distribution_id, {}).values())

    def record_redemptions(self, *, distribution_id: UUID, tx_hash: str, units: int,
                           holders: int) -> None:
        if units <= 0 or holders <= 0:
            raise InvalidInput(f"a redemption of {units} units of {holders} holders")
        if tx_hash in self.redemptions.get(distribution_id, {}):
            raise IllegalTransition(f"the redemptions of {tx_hash} are recorded already")
        self._redemptions_observed(distribution_id=distribution_id, tx_hash=tx_hash,
                                   units=units, holders=holders)

    @event(RedemptionsObserved)
    def _redemptions_observed(self, distribution_id: UUID, tx_hash: str, units: int,
                              holders: int) -> None:
        self.redemptions.setdefault(distribution_id, {})[tx_hash] = units

    @property
    def sweep_accounts(self) -> dict[str, str]:
        """Configured sweep accounts by destination (domain.treasury.SweepDestination's
        values); streams recorded before they existed have none."""
        found: dict[str, str] = self.__dict__.get("_sweep_accounts", {})
        return found

    def set_sweep_accounts(self, *, tax_authority: str | None, dust: str | None, actor: str,
                           reason: str) -> bool:
        """Configure (or clear, with None) the tax authority's and the dust account; True if
        they changed. Neither may be the vault itself or the zero address."""
        if not actor:
            raise InvalidInput("every command names its actor")
        chosen = {k: accounts.canonical(v) for k, v in (("TAX_AUTHORITY", tax_authority),
                                                         ("DUST", dust)) if v is not None}
        for name, address in chosen.items():
            if int(address, 16) == 0 or address == self.vault_address:
                raise InvalidInput(f"the {name.lower().replace('_', ' ')} account cannot be"
                                   f" {address}: neither the zero address nor the vault")
        if chosen == self.sweep_accounts:
            return False
        self._sweep_accounts_set(tax_authority=chosen.get("TAX_AUTHORITY"),
                                 dust=chosen.get("DUST"), reason=reason[:500], actor=actor)
        return True

    @event(SweepAccountsSet)
    def _sweep_accounts_set(self, tax_authority: str | None, dust: str | None, reason: str,
                            actor: str) -> None:
        self.__dict__["_sweep_accounts"] = {k: v for k, v in (("TAX_AUTHORITY", tax_authority),
                                                              ("DUST", dust)) if v is not None}

    def record_deposit(self, *, token: str, sender: str, amount: int, tx_hash: str) -> None:
        if accounts.canonical(token) != self.payment_token:
            raise InvalidInput(f"{token} is not this asset's payment token")
        self._deposit_received(token=self.payment_token, sender=accounts.canonical(sender),
                               amount=amount, tx_hash=tx_hash)

    @event(DepositReceived)
    def _deposit_received(self, token: str, sender: str, amount: int, tx_hash: str) -> None:
        self.deposited += amount

    def record_snapshot(self, *, snapshot_id: int, tx_hash: str, block_number: int) -> None:
        if snapshot_id in self.snapshots:
            raise IllegalTransition(f"snapshot {snapshot_id} is already recorded")
        self._snapshot_observed(snapshot_id=snapshot_id, tx_hash=tx_hash,
                                block_number=block_number)

    @event(SnapshotObserved)
    def _snapshot_observed(self, snapshot_id: int, tx_hash: str, block_number: int) -> None:
        self.snapshots[snapshot_id] = block_number
