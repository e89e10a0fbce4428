"""How our value types are written into stored events (JSON), and read back unchanged."""

from __future__ import annotations

from datetime import date
from fractions import Fraction
from typing import Any

from eventsourcing.persistence import Transcoding

from domain.terms import (
    Accrual,
    DistributionKind,
    DistributionTerms,
    Execution,
    ExecutionKind,
    Recurrence,
    Rule,
    RuleKind,
    Trigger,
    Withholding,
)


class DistributionTermsAsDict(Transcoding):
    """Plain dict of primitives; nested datetimes go through the library's own transcoding."""

    type = DistributionTerms
    name = "distribution_terms"

    def encode(self, obj: DistributionTerms) -> dict[str, Any]:
        e = obj.execution
        execution: dict[str, Any] = {
            "kind": e.kind.value, "at": e.at,
            "recurrence": e.recurrence.value if e.recurrence else None,
            "start": e.start, "end": e.end, "count": e.count,
            "trigger": e.trigger.value if e.trigger else None,
        }
        if e.interval is not None:  # written only when set: older events never had them
            execution["interval"] = e.interval
        if e.end_of_month:
            execution["end_of_month"] = True
        return {
            "kind": obj.kind.value,
            "rule": _rule(obj.rule),
            "record_date": obj.record_date,
            "execution": execution,
            "withholding": [obj.withholding.default_bps,
                            [list(pair) for pair in obj.withholding.overrides]],
            "excluded": list(obj.excluded),
            "minimum_payout": obj.minimum_payout,
            "concept": obj.concept,
        }

    def decode(self, data: dict[str, Any]) -> DistributionTerms:
        e = data["execution"]
        default_bps, overrides = data["withholding"]
        return DistributionTerms(
            kind=DistributionKind(data["kind"]),
            rule=Rule(RuleKind(data["rule"][0]), data["rule"][1],
                      _accrual(data["rule"][2]) if len(data["rule"]) > 2 else None),
            record_date=data["record_date"],
            execution=Execution(
                kind=ExecutionKind(e["kind"]), at=e["at"],
                recurrence=Recurrence(e["recurrence"]) if e["recurrence"] else None,
                start=e["start"], end=e["end"], count=e["count"],
                trigger=Trigger(e["trigger"]) if e["trigger"] else None,
                interval=e.get("interval"), end_of_month=e.get("end_of_month", False),
            ),
            withholding=Withholding(default_bps, tuple((a, b) for a, b in overrides)),
            excluded=tuple(data["excluded"]),
            minimum_payout=data["minimum_payout"],
            concept=data["concept"],
        )


def _rule(rule: Rule) -> list[Any]:
    """[kind, value], and a RATE rule's accrual third (older rules have none)."""
    a = rule.accrual
    if a is None:
        return [rule.kind.value, rule.value]
    return [rule.kind.value, rule.value, {
        "rate": str(a.rate), "day_count": a.day_count.value, "start": a.start.isoformat(),
        "end": a.end.isoformat(), "months": a.months,
        "anchor": a.anchor.isoformat() if a.anchor else None, "end_of_month": a.end_of_month,
    }]


def _accrual(data: dict[str, Any]) -> Accrual:
    return Accrual(rate=Fraction(data["rate"]), day_count=data["day_count"],
                   start=date.fromisoformat(data["start"]), end=date.fromisoformat(data["end"]),
                   months=data["months"],
                   anchor=date.fromisoformat(data["anchor"]) if data["anchor"] else None,
                   end_of_month=data["end_of_month"])


TRANSCODINGS: tuple[Transcoding, ...] = (DistributionTermsAsDict(),)
