"""What a distribution promises: its kind, payout rule, execution mode and holder policies.

Terms are immutable values, validated once at construction; the Distribution records them in
its `Created` event, and equality of terms is what makes an idempotent retry "the same".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from fractions import Fraction

from domain import accounts
from domain.daycount import PERIOD_MONTHS, DayCount, year_fraction
from domain.errors import InvalidRate, InvalidTerms
from domain.values import basis_points, non_negative_amount, positive_amount, utc


class DistributionKind(StrEnum):
    DIVIDEND = "DIVIDEND"
    COUPON = "COUPON"
    CUSTOM = "CUSTOM"
    CASH_OUT = "CASH_OUT"


class RuleKind(StrEnum):
    PRO_RATA = "PRO_RATA"  # value: total to share, in payment-token units
    PER_UNIT = "PER_UNIT"  # value: payment units per whole asset token
    FIXED_PER_HOLDER = "FIXED_PER_HOLDER"  # value: payment units per eligible holder
    PERCENTAGE = "PERCENTAGE"  # value: basis points of the vault balance frozen at snapshot
    RATE = "RATE"  # value: the bond's nominal per whole token; its accrual: rate and period


def coupon_rate(value: Fraction | str | int) -> Fraction:
    """An annual coupon rate, exact: a Fraction, a decimal text ("0.04125") or basis points
    (an int). Over 100 % or not above 0 is refused."""
    if isinstance(value, bool):
        raise InvalidRate(f"a coupon rate is a decimal or basis points, got {value!r}")
    try:
        rate = Fraction(value, 10_000) if isinstance(value, int) else Fraction(value)
    except (ValueError, ZeroDivisionError):
        raise InvalidRate(f"a coupon rate is a decimal or basis points, got {value!r}"
                          ) from None
    if not 0 < rate <= 1:
        raise InvalidRate(f"a coupon rate lies in (0 %, 100 %], got {float(rate):.6%}")
    return rate


@dataclass(frozen=True, slots=True)
class Accrual:
    """What a RATE coupon accrues: an annual `rate` over the period [start, end) under a day
    count. ACT/ACT (ICMA) also needs the regular period's `months` and a regular coupon date
    (`anchor`) its notional periods roll from, so irregular periods are prorated."""

    rate: Fraction
    day_count: DayCount
    start: date
    end: date
    months: int | None = None
    anchor: date | None = None
    end_of_month: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "rate", coupon_rate(self.rate))
        try:
            object.__setattr__(self, "day_count", DayCount(self.day_count))
        except ValueError:
            raise InvalidTerms(f"day count {self.day_count!r} is not one of"
                               f" {', '.join(DayCount)}") from None
        if type(self.start) is not date or type(self.end) is not date:
            raise InvalidTerms("a coupon period runs between two dates")
        if self.end <= self.start:
            raise InvalidTerms(f"a coupon period ends ({self.end}) after it starts"
                               f" ({self.start})")
        if self.months is not None and self.months not in PERIOD_MONTHS:
            raise InvalidTerms(f"a coupon period is {sorted(PERIOD_MONTHS)} months,"
                               f" not {self.months!r}")
        year_fraction(self.day_count, self.start, self.end, months=self.months,
                      anchor=self.anchor)  # ACT/ACT (ICMA) without its period fails here

    @property
    def fraction(self) -> Fraction:
        return year_fraction(self.day_count, self.start, self.end, months=self.months,
                             anchor=self.anchor, end_of_month=self.end_of_month)

    @property
    def per_nominal(self) -> Fraction:
        """rate * day-count fraction: what one unit of nominal earns over the period."""
        return self.rate * self.fraction


@dataclass(frozen=True, slots=True)
class Rule:
    kind: RuleKind
    value: int
    accrual: Accrual | None = None  # a RATE rule's, and only a RATE rule's

    def __post_init__(self) -> None:
        if (self.kind is RuleKind.RATE) != (self.accrual is not None):
            raise InvalidTerms("a RATE rule needs the coupon's rate, day count and period (its"
                               " accrual), which come from the bond's terms; no other rule"
                               " takes one")
        if self.kind is RuleKind.PERCENTAGE:
            basis_points(self.value, "PERCENTAGE rate")
            if self.value == 0:
                raise InvalidTerms("a PERCENTAGE rule of 0 bps pays nothing")
        else:
            positive_amount(self.value, f"{self.kind} value")


class ExecutionKind(StrEnum):
    MANUAL = "MANUAL"
    SCHEDULED = "SCHEDULED"
    RECURRING = "RECURRING"
    AUTOMATIC = "AUTOMATIC"


class Recurrence(StrEnum):
    HOURLY = "HOURLY"
    DAILY = "DAILY"
    WEEKLY = "WEEKLY"
    MONTHLY = "MONTHLY"
    QUARTERLY = "QUARTERLY"  # every 3 months
    SEMI_ANNUAL = "SEMI_ANNUAL"  # every 6 months
    ANNUAL = "ANNUAL"  # every 12 months


# The calendar months one step of a month-based recurrence spans.
RECURRENCE_MONTHS = {Recurrence.MONTHLY: 1, Recurrence.QUARTERLY: 3,
                     Recurrence.SEMI_ANNUAL: 6, Recurrence.ANNUAL: 12}
MAX_INTERVAL = 1000


class Trigger(StrEnum):
    ON_DEPOSIT = "ON_DEPOSIT"
    ON_CORPORATE_ACTION_DATE = "ON_CORPORATE_ACTION_DATE"


@dataclass(frozen=True, slots=True)
class Execution:
    """How execution starts. Exactly the fields of its kind are set; the rest stay None.

    A RECURRING cadence steps `interval` recurrences at a time (every N months: MONTHLY with
    interval N). `end_of_month`: a month-based cadence starting on a month's last day falls
    on the last day of every month (Feb 28 → May 31), instead of keeping the start's day."""

    kind: ExecutionKind = ExecutionKind.MANUAL
    at: datetime | None = None
    recurrence: Recurrence | None = None
    start: datetime | None = None
    end: datetime | None = None
    count: int | None = None
    trigger: Trigger | None = None
    interval: int | None = None
    end_of_month: bool = False

    def __post_init__(self) -> None:
        for name in ("at", "start", "end"):
            moment = getattr(self, name)
            if moment is not None:
                object.__setattr__(self, name, utc(moment, f"execution {name}"))
        allowed = {
            ExecutionKind.MANUAL: set(),
            ExecutionKind.SCHEDULED: {"at"},
            ExecutionKind.RECURRING: {"recurrence", "start", "end", "count", "interval",
                                      "end_of_month"},
            ExecutionKind.AUTOMATIC: {"trigger"},
        }[self.kind]
        extra = [n for n in ("at", "recurrence", "start", "end", "count", "trigger",
                             "interval")
                 if getattr(self, n) is not None and n not in allowed]
        if self.end_of_month is not False and "end_of_month" not in allowed:
            extra.append("end_of_month")
        if extra:
            raise InvalidTerms(f"{self.kind} execution does not take {', '.join(extra)}")
        if self.kind is ExecutionKind.SCHEDULED and self.at is None:
            raise InvalidTerms("SCHEDULED execution needs `at`")
        if self.kind is ExecutionKind.AUTOMATIC and self.trigger is None:
            raise InvalidTerms("AUTOMATIC execution needs a trigger")
        if self.kind is ExecutionKind.RECURRING:
            self._check_recurring()

    def _check_recurring(self) -> None:
        if self.recurrence is None or self.start is None:
            raise InvalidTerms("RECURRING execution needs a recurrence and a start")
        if (self.end is None) == (self.count is None):
            raise InvalidTerms("RECURRING execution needs exactly one of `end` or `count`")
        if self.count is not None and (type(self.count) is not int or self.count <= 0):
            raise InvalidTerms("a RECURRING count must be a positive integer")
        if self.end is not None and self.end <= self.start:
            raise InvalidTerms("a RECURRING end must come after its start")
        if self.interval is not None and (type(self.interval) is not int
                                          or not 1 <= self.interval <= MAX_INTERVAL):
            raise InvalidTerms(f"a RECURRING interval is an integer in 1..{MAX_INTERVAL}")
        if type(self.end_of_month) is not bool:
            raise InvalidTerms("end_of_month is true or false")
        if self.end_of_month and self.recurrence not in RECURRENCE_MONTHS:
            raise InvalidTerms(f"the end-of-month rule applies to a month-based recurrence"
                               f" ({', '.join(RECURRENCE_MONTHS)}), not {self.recurrence}")


@dataclass(frozen=True, slots=True)
class Withholding:
    """Tax withheld per holder: a default rate and per-account overrides, in basis points."""

    default_bps: int = 0
    overrides: tuple[tuple[str, int], ...] = ()

    def __post_init__(self) -> None:
        basis_points(self.default_bps, "default withholding")
        normalised: dict[str, int] = {}
        for account, bps in self.overrides:
            key = accounts.canonical(account)
            if key in normalised:
                raise InvalidTerms(f"withholding for {key} is given twice")
            normalised[key] = basis_points(bps, f"withholding for {key}")
        object.__setattr__(self, "overrides", tuple(sorted(normalised.items())))


@dataclass(frozen=True, slots=True)
class DistributionTerms:
    kind: DistributionKind
    rule: Rule
    record_date: datetime
    execution: Execution = field(default_factory=Execution)
    withholding: Withholding = field(default_factory=Withholding)
    excluded: tuple[str, ...] = ()
    minimum_payout: int = 0
    concept: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "record_date", utc(self.record_date, "record date"))
        object.__setattr__(
            self, "excluded", tuple(sorted({accounts.canonical(a) for a in self.excluded}))
        )
        non_negative_amount(self.minimum_payout, "minimum payout")
        if len(self.concept) > 500:
            raise InvalidTerms("the concept text is limited to 500 characters")
        if self.kind is DistributionKind.CASH_OUT:
            if self.rule.kind is not RuleKind.PER_UNIT:
                raise InvalidTerms("a CASH_OUT pays principal per unit: use a PER_UNIT rule")
            if self.withholding != Withholding():
                # The vault pays each redeemed unit's whole principal (it computes it from
                # the units on-chain): nothing can be held back in a cash-out.
                raise InvalidTerms("a CASH_OUT pays the whole principal: it takes no"
                                   " withholding")
