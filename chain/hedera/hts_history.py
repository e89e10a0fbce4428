"""Where a TransactionId's outcome is found once the nodes have forgotten its receipt (~180 s
after consensus): the Mirror Node's `/api/v1/transactions/{id}`, and how far the Mirror Node
has ingested (its latest block's end), which is what lets the recovery prove a negative.

Mirror Node shapes (OpenAPI 0.141.0): a transaction id is written `0.0.payer-seconds-nanos`;
`transactions[]` holds the transaction and its children, the parent being the row with
`nonce == 0` and `scheduled == false`; `result` is the status name ("SUCCESS", ...); a block's
`timestamp.to` is `seconds.nanoseconds`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from chain.hedera.errors import MirrorNodeInconsistent
from chain.hedera.mirror_client import MirrorNodeClient


@dataclass(frozen=True, slots=True)
class HistoryAnswer:
    status: str | None         # the parent transaction's result, None when not recorded
    indexed_until: float | None  # consensus seconds the Mirror Node has ingested up to


class TransactionHistory(Protocol):
    def lookup(self, transaction_id: str) -> HistoryAnswer:
        """`transaction_id` as the SDK writes it: `0.0.payer@seconds.nanos`."""
        ...


def mirror_transaction_id(transaction_id: str) -> str:
    """`0.0.5@1700000000.000000123` -> `0.0.5-1700000000-000000123` (the Mirror Node's form)."""
    payer, _, start = transaction_id.partition("@")
    seconds, _, nanos = start.partition(".")
    if not payer or not seconds.isdigit() or not nanos.isdigit():
        raise ValueError(f"not a transaction id: {transaction_id!r}")
    return f"{payer}-{seconds}-{nanos.rjust(9, '0')}"


class MirrorTransactionHistory:
    def __init__(self, mirror: MirrorNodeClient) -> None:
        self._mirror = mirror

    def lookup(self, transaction_id: str) -> HistoryAnswer:
        # Read the horizon first: a record that lands between the two requests is then found,
        # and never missed behind a horizon that already covers it.
        indexed_until = _seconds(self._mirror.latest_block().get("timestamp", {}).get("to"))
        rows = self._mirror.transaction(mirror_transaction_id(transaction_id))
        if not rows:
            return HistoryAnswer(None, indexed_until)
        parents = [r for r in rows if not r.get("scheduled") and int(r.get("nonce", 0)) == 0]
        if len(parents) != 1 or not isinstance(parents[0].get("result"), str):
            raise MirrorNodeInconsistent(f"transaction {transaction_id}: no single parent row")
        return HistoryAnswer(parents[0]["result"], indexed_until)


def _seconds(stamp: object) -> float | None:
    if not isinstance(stamp, str):
        return None
    try:
        return float(stamp)
    except ValueError:
        raise MirrorNodeInconsistent(f"a timestamp that is not one: {stamp!r}") from None
