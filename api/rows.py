"""Read-model rows to response Structs, and opaque keyset cursors."""

from __future__ import annotations

import base64
import json
from typing import Any

import msgspec
from litestar import MediaType, Response

from api import schemas
from api.problems import Problem

AMOUNTS = ("gross", "net", "withheld", "dust", "skipped_amount")


def encoded(body: bytes) -> Response[Any]:
    """A JSON body encoded already (a cached page): the route's return annotation still names
    its Struct, which is what the OpenAPI document describes."""
    return Response(body, media_type=MediaType.JSON)


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


def decode_position(cursor: str | None) -> int:
    """A cursor holding one position (a holder's, a batch's number); -1 without one."""
    after = decode_cursor(cursor, 1)
    if after is None:
        return -1
    # isdigit() alone admits "²" and other Unicode digits that int() refuses
    if not (after[0].isascii() and after[0].isdigit()):
        raise Problem(400, "bad-cursor", "the cursor is not one this API issued")
    return int(after[0])


def text(value: Any) -> str | None:
    return None if value is None else str(value)


def columns(struct: type[msgspec.Struct], expressions: dict[str, str]) -> str:
    """The SELECT list that yields `struct`'s fields in order: a row then becomes the Struct
    positionally, with no dict per row. Amounts are cast to text by PostgreSQL, not through
    Decimal in Python."""
    return ", ".join(expressions.get(name, name) for name in struct.__struct_fields__)


DISTRIBUTION_COLUMNS = columns(schemas.Distribution, {
    **{name: f"{name}::text" for name in (*AMOUNTS, "rule_value", "amount_paid",
                                           "funds_needed", "funds_available", "reclaimed",
                                           "swept", "pending_claim_amount")},
    "progress": "NULL",  # computed here, from paid_count and eligible
    "units_redeemed": "units_redeemed::text",
    "units_outstanding": "(eligible_balance - units_redeemed)::text",
})
_PROGRESS = schemas.Distribution.__struct_fields__.index("progress")
_PAID = schemas.Distribution.__struct_fields__.index("paid_count")
_ELIGIBLE = schemas.Distribution.__struct_fields__.index("eligible")
_CREATED = schemas.Distribution.__struct_fields__.index("created_at")


def distribution(row: tuple[Any, ...]) -> schemas.Distribution:
    """A row selected with DISTRIBUTION_COLUMNS."""
    values = list(row)
    eligible = values[_ELIGIBLE] or 0
    values[_PROGRESS] = round(float(values[_PAID]) / eligible, 6) if eligible else 0.0
    return schemas.Distribution(*values)


def distribution_cursor(row: tuple[Any, ...]) -> str:
    """The keyset cursor after this row (newest first: created_at, distribution_id)."""
    return encode_cursor(row[_CREATED].isoformat(), row[0])


def holder(row: dict[str, Any]) -> schemas.HolderEntitlement:
    return schemas.HolderEntitlement(
        position=row["position"], account=row["account"], balance=str(row["balance"]),
        gross=str(row["gross"]), withheld=str(row["withheld"]), net=str(row["net"]),
        leaf_index=row["leaf_index"], batch_number=row["batch_number"], status=row["status"],
        skip_reason=row["skip_reason"], tx_hash=row["tx_hash"],
        failure_reason=row["failure_reason"], attempts=row["attempts"])


BATCH_COLUMNS = columns(schemas.Batch, {"total_net": "total_net::text",
                                       "amount_paid": "amount_paid::text"})


def batch(row: tuple[Any, ...]) -> schemas.Batch:
    """A row selected with BATCH_COLUMNS."""
    return schemas.Batch(*row)


def asset(row: dict[str, Any]) -> schemas.Asset:
    return schemas.Asset(**{k: v for k, v in row.items() if k != "position"})
