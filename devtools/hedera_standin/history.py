"""A STAND-IN for the Mirror Node's transaction history, read straight from the stand-in
network's ledger: every transaction that reached consensus, kept for good (the nodes answer
receipts for 180 s only), and a horizon that a test can hold back to model ingestion lag."""

from __future__ import annotations

from collections.abc import Sequence

from hiero_sdk_python import ResponseCode

from chain.hedera.errors import MirrorNodeUnavailable
from chain.hedera.hts_history import HistoryAnswer, OutstandingAnswer, TopicMessageAnswer
from devtools.hedera_standin.server import StandinNetwork
from devtools.hedera_standin.state import Ledger, TxKey
from domain.hts_links import TokenLink


class StandinHistory:
    def __init__(self, net: StandinNetwork) -> None:
        self._net = net
        self.lag_seconds = 0.0  # how far behind consensus the stand-in Mirror Node is
        self.relationships_answer = True  # False: its accounts/{id}/tokens route is failing

    def lookup(self, transaction_id: str, credited_token: str | None = None) -> HistoryAnswer:
        payer, _, start = transaction_id.partition("@")
        seconds, _, nanos = start.partition(".")
        key = TxKey(int(payer.rsplit(".", 1)[1]), int(seconds), int(nanos))
        ledger = self._net.ledger
        with ledger.lock:
            horizon = ledger.clock.now() - self.lag_seconds
            found = ledger.executed.get(key)
            if found is None or found.consensus_time > horizon:
                return HistoryAnswer(None, horizon)
            credited = frozenset(
                f"0.0.{leg.accountID.accountNum}"
                for listed in found.record.tokenTransferLists
                if f"0.0.{listed.token.tokenNum}" == credited_token
                for leg in listed.transfers if leg.amount > 0)
            return HistoryAnswer(ResponseCode(found.record.receipt.status).name, horizon,
                                 credited)

    def topic_message(self, transaction_id: str) -> TopicMessageAnswer | None:
        payer, _, start = transaction_id.partition("@")
        seconds, _, nanos = start.partition(".")
        key = TxKey(int(payer.rsplit(".", 1)[1]), int(seconds), int(nanos))
        ledger = self._net.ledger
        with ledger.lock:
            found = ledger.executed.get(key)
            if found is None or found.consensus_time > ledger.clock.now() - self.lag_seconds:
                return None
            for number, topic in ledger.topics.items():
                for i, time in enumerate(topic.times):
                    if time == found.consensus_time:
                        return TopicMessageAnswer(f"0.0.{number}", i + 1, topic.messages[i])
        return None

    def outstanding_airdrops(self, sender: str, token: str) -> OutstandingAnswer:
        """The stand-in network's pending airdrops right now (claims and cancellations are
        reflected at once: a lag applies to the horizon only)."""
        sender_num, token_num = int(sender.rsplit(".", 1)[1]), int(token.rsplit(".", 1)[1])
        ledger = self._net.ledger
        with ledger.lock:
            return OutstandingAnswer(
                {f"0.0.{receiver}": amount
                 for (s, receiver, t), amount in ledger.pending_airdrops.items()
                 if (s, t) == (sender_num, token_num)},
                ledger.clock.now() - self.lag_seconds)

    def token_links(self, accounts: Sequence[str], token: str) -> dict[str, TokenLink]:
        """The stand-in network's relationships right now (as `outstanding_airdrops`)."""
        if not self.relationships_answer:
            raise MirrorNodeUnavailable("the stand-in Mirror Node is not answering")
        token_num = int(token.rsplit(".", 1)[1])
        ledger = self._net.ledger
        with ledger.lock:
            return {account: standin_link(ledger, int(account.rsplit(".", 1)[1]), token_num)
                    for account in accounts}


def standin_link(ledger: Ledger, account: int, token: int) -> TokenLink:
    """An account's relationship with a token in the stand-in's state, as the Mirror Node's
    TokenRelationship would show it."""
    if account not in ledger.accounts:
        return TokenLink.UNKNOWN
    relationship = ledger.relationship(account, token)
    if relationship is None:
        return TokenLink.NOT_ASSOCIATED
    if relationship.frozen:
        return TokenLink.FROZEN
    if not relationship.kyc_granted:
        return TokenLink.KYC_REVOKED
    return TokenLink.ASSOCIATED
