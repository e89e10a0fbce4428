"""Query parameters every read route shares."""

from __future__ import annotations

from typing import Annotated

from litestar.params import PathParameter, QueryParameter

from api.schemas import ACCOUNT_PATTERN

Limit = Annotated[int, QueryParameter(ge=1, le=500, description="page size")]
# Not `int | None`: Litestar 2.25 drops `minimum: 0` from an optional integer's schema.
Wait = Annotated[int, QueryParameter(
    ge=0, le=2**53,
    description="read-your-writes: wait until the read model reached this ledger position"
                " (0: do not wait)")]
Cursor = Annotated[str | None, QueryParameter(
    max_length=400, pattern=r"^[A-Za-z0-9_=-]+$",
    description="opaque: the next_cursor of the previous page (only cursors this API issued)")]
AccountPath = Annotated[str, PathParameter(
    pattern=ACCOUNT_PATTERN, description="EVM address (0x…, EIP-55 checksummed if mixed case;"
    " a wrong checksum is a 422) or Hedera id (0.0.x)")]
