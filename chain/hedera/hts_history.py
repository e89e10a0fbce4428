"""Where a TransactionId's outcome is found once the nodes have forgotten its receipt (~180 s
after consensus): the Mirror Node's `/api/v1/transactions/{id}`, and how far the Mirror Node
has ingested (its latest block's end), which is what lets the recovery prove a negative.

Mirror Node shapes (OpenAPI 0.141.0): a transaction id is written `0.0.payer-seconds-nanos`;
`transactions[]` holds the transaction and its children, the parent being the row with
`nonce == 0` and `scheduled == false`; `result` is the status name ("SUCCESS", ...); a block's
`timestamp.to` is `seconds.nanoseconds`; a transaction's `token_transfers[]` are the token
balance changes it made (an airdrop's pending part is not among them: nothing moved); a
sender's `/api/v1/accounts/{id}/airdrops/outstanding` lists its pending airdrops not yet
claimed or cancelled (`airdrops[]`: `receiver_id`, `token_id`, `amount`); an account's
`/api/v1/accounts/{id}/tokens?token.id=` lists its relationship with that token, empty when it
is not associated (`tokens[]`: `token_id`, `freeze_status` NOT_APPLICABLE | FROZEN | UNFROZEN,
`kyc_status` NOT_APPLICABLE | GRANTED | REVOKED, `automatic_association`, `balance`); an HCS
message is `/api/v1/topics/messages/{consensus timestamp}` (`topic_id`, `sequence_number`,
`message` in base64).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from chain.hedera.errors import MirrorNodeInconsistent
from chain.hedera.mirror_client import MirrorNodeClient, NotFound
from domain.hts_links import TokenLink

# Relationships are one request per account; a transaction's nine are asked side by side (the
# client's token bucket still paces them).
LINK_LOOKUPS_AT_ONCE = 9


@dataclass(frozen=True, slots=True)
class HistoryAnswer:
    status: str | None         # the parent transaction's result, None when not recorded
    indexed_until: float | None  # consensus seconds the Mirror Node has ingested up to
    # accounts (`0.0.n`) whose balance of `credited_token` the transaction raised
    credited: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class OutstandingAnswer:
    receivers: dict[str, int]    # receiver `0.0.n` -> amount still pending from the sender
    indexed_until: float | None


@dataclass(frozen=True, slots=True)
class TopicMessageAnswer:
    """An HCS message as the Mirror Node keeps it for good (the receipt that carried its
    sequence number is gone from the nodes after ~180 s)."""

    topic_id: str           # `0.0.n`
    sequence_number: int
    message: bytes


class TransactionHistory(Protocol):
    def lookup(self, transaction_id: str, credited_token: str | None = None) -> HistoryAnswer:
        """`transaction_id` as the SDK writes it: `0.0.payer@seconds.nanos`."""
        ...

    def outstanding_airdrops(self, sender: str, token: str) -> OutstandingAnswer:
        """The sender's pending airdrops of `token` (HIP-904) not yet claimed or cancelled."""
        ...

    def token_links(self, accounts: Sequence[str], token: str) -> dict[str, TokenLink]:
        """Each account's (`0.0.n`) relationship with `token`, as the Mirror Node last saw it."""
        ...

    def topic_message(self, transaction_id: str) -> TopicMessageAnswer | None:
        """The HCS message a successful TopicMessageSubmit put on its topic; None when the
        Mirror Node has not ingested it (yet)."""
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
        self._pool: ThreadPoolExecutor | None = None  # for relationships, made on first use

    def lookup(self, transaction_id: str, credited_token: str | None = None) -> HistoryAnswer:
        # Read the horizon first: a record that lands between the two requests is then found,
        # and never missed behind a horizon that already covers it.
        indexed_until = _seconds(self._mirror.latest_block().get("timestamp", {}).get("to"))
        rows = self._mirror.transaction(mirror_transaction_id(transaction_id))
        if not rows:
            return HistoryAnswer(None, indexed_until)
        parents = [r for r in rows if not r.get("scheduled") and int(r.get("nonce", 0)) == 0]
        if len(parents) != 1 or not isinstance(parents[0].get("result"), str):
            raise MirrorNodeInconsistent(f"transaction {transaction_id}: no single parent row")
        credited = frozenset(
            str(t.get("account")) for t in parents[0].get("token_transfers") or []
            if credited_token is not None and t.get("token_id") == credited_token
            and int(t.get("amount", 0)) > 0)
        return HistoryAnswer(parents[0]["result"], indexed_until, credited)

    def outstanding_airdrops(self, sender: str, token: str) -> OutstandingAnswer:
        # The horizon first, for the same reason as in `lookup`.
        indexed_until = _seconds(self._mirror.latest_block().get("timestamp", {}).get("to"))
        receivers: dict[str, int] = {}
        for page in self._mirror.pages(f"/api/v1/accounts/{sender}/airdrops/outstanding",
                                       {"token.id": token, "limit": 100}, "airdrops"):
            for row in page:
                receiver = str(row.get("receiver_id"))
                receivers[receiver] = receivers.get(receiver, 0) + int(row.get("amount", 0))
        return OutstandingAnswer(receivers, indexed_until)

    def topic_message(self, transaction_id: str) -> TopicMessageAnswer | None:
        # The transaction's consensus timestamp names its message: /topics/messages/{ts}.
        rows = self._mirror.transaction(mirror_transaction_id(transaction_id))
        parents = [r for r in rows or [] if not r.get("scheduled")
                   and int(r.get("nonce", 0)) == 0 and r.get("result") == "SUCCESS"]
        if not parents:
            return None
        stamp = parents[0].get("consensus_timestamp")
        try:
            row = self._mirror.get(f"/api/v1/topics/messages/{stamp}")
        except NotFound:
            return None
        try:
            return TopicMessageAnswer(str(row["topic_id"]), int(row["sequence_number"]),
                                      base64.b64decode(row["message"], validate=True))
        except (KeyError, TypeError, ValueError, binascii.Error) as err:
            raise MirrorNodeInconsistent(f"topics/messages/{stamp}: {err!r}") from None

    def token_links(self, accounts: Sequence[str], token: str) -> dict[str, TokenLink]:
        if not accounts:
            return {}
        if self._pool is None:
            self._pool = ThreadPoolExecutor(LINK_LOOKUPS_AT_ONCE,
                                            thread_name_prefix="mirror-relationships")
        links = self._pool.map(lambda account: self._token_link(account, token), accounts)
        return dict(zip(accounts, links, strict=True))

    def _token_link(self, account: str, token: str) -> TokenLink:
        try:
            body = self._mirror.get(f"/api/v1/accounts/{account}/tokens",
                                    {"token.id": token, "limit": 1})
        except NotFound:  # no such account: the network's status will say so
            return TokenLink.UNKNOWN
        rows = body.get("tokens")
        if not isinstance(rows, list):
            raise MirrorNodeInconsistent(f"accounts/{account}/tokens: no list under 'tokens'")
        row = next((r for r in rows if isinstance(r, dict) and r.get("token_id") == token),
                   None)
        return TokenLink.NOT_ASSOCIATED if row is None else link_of(row)


def link_of(relationship: dict[str, Any]) -> TokenLink:
    """A TokenRelationship row's meaning for a transfer."""
    if relationship.get("freeze_status") == "FROZEN":
        return TokenLink.FROZEN
    if relationship.get("kyc_status") == "REVOKED":
        return TokenLink.KYC_REVOKED
    return TokenLink.ASSOCIATED


def _seconds(stamp: object) -> float | None:
    if not isinstance(stamp, str):
        return None
    try:
        return float(stamp)
    except ValueError:
        raise MirrorNodeInconsistent(f"a timestamp that is not one: {stamp!r}") from None
