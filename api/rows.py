"""Read-model rows to response Structs, and opaque keyset cursors."""

from __future__ import annotations

import base64
import json
from typing import Any

from api import schemas
from api.problems import Problem

AMOUNTS = ("gross", "net", "withheld", "dust", "skipped_amount")


def encode_cursor(*values: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps([str(v) for v in values]).encode()).decode()


def decode_cursor(cursor: str | None, size: int) -> list[str] | None:
    if cursor is None:
        return None
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except ValueError:
        values = None
    if not isinstance(values, list) or len(values) != size \
            or not all(isinstance(v, str) for v in values):
        raise Problem(400, "bad-cursor", "the cursor is not one this API issued")
    return values


def text(value: Any) -> str | None:
    return None if value is None else str(value)


def distribution(row: dict[str, Any]) -> schemas.Distribution:
    values = dict(row)
    for name in (*AMOUNTS, "rule_value", "amount_paid"):
        values[name] = text(values[name])
    eligible = values["eligible"] or 0
    values["progress"] = round(float(values["paid_count"]) / eligible, 6) if eligible else 0.0
    for drop in ("eligible_balance", "funds_needed", "funds_available", "position"):
        values.pop(drop, None)
    return schemas.Distribution(**values)


def holder(row: dict[str, Any]) -> schemas.HolderEntitlement:
    return schemas.HolderEntitlement(
        position=row["position"], account=row["account"], balance=str(row["balance"]),
        gross=str(row["gross"]), withheld=str(row["withheld"]), net=str(row["net"]),
        leaf_index=row["leaf_index"], batch_number=row["batch_number"], status=row["status"],
        skip_reason=row["skip_reason"], tx_hash=row["tx_hash"],
        failure_reason=row["failure_reason"], attempts=row["attempts"])


def batch(row: dict[str, Any]) -> schemas.Batch:
    values = {k: v for k, v in row.items() if k not in ("distribution_id", "planned_at",
                                                        "position")}
    values["total_net"] = str(values["total_net"])
    values["amount_paid"] = str(values["amount_paid"])
    return schemas.Batch(**values)


def asset(row: dict[str, Any]) -> schemas.Asset:
    return schemas.Asset(**{k: v for k, v in row.items() if k != "position"})
