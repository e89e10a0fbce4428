"""Query, path and header parameters the routes share.

Every pattern is a whole-string, ASCII-only pattern that reads the same in Python's `re`
(which Litestar's msgspec validation uses) and in ECMA-262 (the document's clients): see
`domain.values.whole`. What a pattern cannot say (a cursor this API did not issue, a wrong
EIP-55 checksum) is named in the parameter's description and answered as a problem.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from litestar.params import HeaderParameter, PathParameter, QueryParameter

from domain.accounts import ACCOUNT_PATTERN
from domain.errors import InvalidField
from domain.values import whole

Limit = Annotated[int, QueryParameter(ge=1, le=500, description="page size")]
# Not `int | None`: Litestar 2.25 drops `minimum: 0` from an optional integer's schema.
Wait = Annotated[int, QueryParameter(
    ge=0, le=2**53,
    description="read-your-writes: wait until the read model reached this ledger position"
                " (0: do not wait)")]
Cursor = Annotated[str | None, QueryParameter(
    max_length=400, pattern=whole("[A-Za-z0-9_=-]+"),
    description="opaque: the next_cursor of the previous page (only cursors this API issued;"
                " any other is a 400 problem)")]
AccountPath = Annotated[str, PathParameter(
    pattern=ACCOUNT_PATTERN, description="EVM address (0x…, EIP-55 checksummed if mixed case;"
    " a wrong checksum is a 422) or Hedera id shard.realm.num (shard < 2**32, realm and"
    " num < 2**64)")]
# Printable ASCII, no blanks at either end: HTTP strips those from a header value, so a key
# of blanks would arrive empty, and a non-ASCII one would arrive as Latin-1 mojibake.
IdempotencyKey = Annotated[str, HeaderParameter(
    name="Idempotency-Key", min_length=1, max_length=200,
    pattern=whole("[!-~](?:[ -~]*[!-~])?"),
    description="the request's key: the same key and body give the same resource")]

# RFC 3339 date-time with its offset, as far as Python reads it: years 0001..9999, seconds
# 00..59 (no leap second), at most 6 fractional digits.
DATE_TIME = whole(
    "(?!0000)[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])[Tt]"
    "(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\\.[0-9]{1,6})?"
    "(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])")
# A string, not a `datetime`: Litestar converts query values leniently, so `datetime` would
# take `0.0` or `1700000000` as a Unix time the document never mentions.
DateTimeQuery = Annotated[str | None, QueryParameter(
    pattern=DATE_TIME, schema_extra={"format": "date-time"},
    description="RFC 3339 date-time with an offset (Z or ±hh:mm)")]


def moment(value: str | None, name: str) -> datetime | None:
    """A `DateTimeQuery` value as a datetime. The pattern has checked the form, so what is
    left is a day the calendar lacks (02-31, 02-29 of 2026): a 422 whose `field` names the
    parameter (documented on every route with such a parameter: api.problems.statuses)."""
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value.upper())
    except ValueError as err:
        raise InvalidField(name, f"{value!r} is not a date the calendar has ({err})") from None
