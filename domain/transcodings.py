"""How our value types are written into stored events (JSON), and read back unchanged."""

from __future__ import annotations

from typing import Any

from eventsourcing.persistence import Transcoding

from domain.terms import (
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
            "rule": [obj.rule.kind.value, obj.rule.value],
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
            rule=Rule(RuleKind(data["rule"][0]), data["rule"][1]),
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


TRANSCODINGS: tuple[Transcoding, ...] = (DistributionTermsAsDict(),)
