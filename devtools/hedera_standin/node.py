"""One stand-in consensus node (0.0.3): precheck, consensus, receipts, records, balances.

Order of a submission, as on the network: precheck (reject without charging anything), then
consensus: the TransactionId is remembered (a resubmission is DUPLICATE_TRANSACTION), the fee
is charged to the payer whatever happens next, and the handler's outcome becomes the
receipt's status. Consensus here is immediate and in submission order (one node, one lock).

Receipts and records are answered for 180 s of consensus time after the transaction, like
the network's; after that only a Mirror Node knows what happened (`history`), which is why the
rail's recovery asks the Mirror Node before it ever rebuilds a transaction.
"""

from __future__ import annotations

import hashlib

from hiero_sdk_python.hapi.services import (
    basic_types_pb2,
    crypto_get_account_balance_pb2,
    query_header_pb2,
    query_pb2,
    response_header_pb2,
    response_pb2,
    timestamp_pb2,
    transaction_get_receipt_pb2,
    transaction_get_record_pb2,
    transaction_pb2,
    transaction_record_pb2,
    transaction_response_pb2,
)
from hiero_sdk_python.hapi.services import response_code_pb2 as codes

from devtools.hedera_standin import fees
from devtools.hedera_standin.handlers import (
    Outcome,
    airdrop_receivers,
    check_shape,
    handle,
    token_changes,
)
from devtools.hedera_standin.prechecks import (
    Parsed,
    Rejected,
    check_window,
    entity,
    is_signed_by,
    parse,
)
from devtools.hedera_standin.state import NODE_ACCOUNT, Executed, Ledger, TxKey

RECEIPT_RETENTION_SECONDS = 180  # cache.records.ttl: receipts/records live this long on nodes


class StandinNode:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    # --- transactions -------------------------------------------------------------------

    def submit(self, tx: transaction_pb2.Transaction,
               ) -> transaction_response_pb2.TransactionResponse:
        with self.ledger.lock:
            try:
                parsed, fee = self._precheck(tx)
            except Rejected as rejected:
                return transaction_response_pb2.TransactionResponse(
                    nodeTransactionPrecheckCode=rejected.code)
            self._reach_consensus(parsed, fee)
        return transaction_response_pb2.TransactionResponse(nodeTransactionPrecheckCode=codes.OK)

    def _precheck(self, tx: transaction_pb2.Transaction) -> tuple[Parsed, int]:
        parsed = parse(tx)
        body = parsed.body
        if entity(body.nodeAccountID) != NODE_ACCOUNT:
            raise Rejected(codes.INVALID_NODE_ACCOUNT)
        payer = self.ledger.accounts.get(parsed.tx_key.payer)
        if payer is None:
            raise Rejected(codes.PAYER_ACCOUNT_NOT_FOUND)
        if payer.deleted:
            raise Rejected(codes.PAYER_ACCOUNT_DELETED)
        check_window(body, self.ledger.clock.now())
        if parsed.tx_key in self.ledger.executed:
            raise Rejected(codes.DUPLICATE_TRANSACTION)
        if not is_signed_by(payer.key, parsed.body_bytes, parsed.sig_map):
            raise Rejected(codes.INVALID_SIGNATURE)
        check_shape(body)
        kind = body.WhichOneof("data") or ""
        try:
            fee = fees.fee_tinybars(kind, token_changes(body),
                                    **airdrop_receivers(self.ledger, body))
        except KeyError:
            raise Rejected(codes.NOT_SUPPORTED) from None
        if body.transactionFee < fee:
            raise Rejected(codes.INSUFFICIENT_TX_FEE)
        if payer.tinybars < fee:
            raise Rejected(codes.INSUFFICIENT_PAYER_BALANCE)
        return parsed, fee

    def _reach_consensus(self, parsed: Parsed, fee: int) -> None:
        ledger, now = self.ledger, self.ledger.clock.now()
        payer = parsed.tx_key.payer
        ledger.accounts[payer].tinybars -= fee
        ledger.accounts[NODE_ACCOUNT].tinybars += fee
        try:
            outcome, status = handle(ledger, parsed, now), codes.SUCCESS
        except Rejected as rejected:
            outcome, status = Outcome(), rejected.code
        outcome.receipt.status = status
        ledger.executed[parsed.tx_key] = Executed(now, _record(parsed, outcome, fee, now))

    # --- queries ------------------------------------------------------------------------

    def query(self, query: query_pb2.Query) -> response_pb2.Response:
        kind = query.WhichOneof("query")
        with self.ledger.lock:
            if kind == "transactionGetReceipt":
                return self._receipt(query.transactionGetReceipt)
            if kind == "transactionGetRecord":
                return self._record(query.transactionGetRecord)
            if kind == "cryptogetAccountBalance":
                return self._balance(query.cryptogetAccountBalance)
        return response_pb2.Response()

    def _fresh(self, tid: basic_types_pb2.TransactionID) -> Executed | None:
        start = tid.transactionValidStart
        key = TxKey(int(tid.accountID.accountNum), start.seconds, start.nanos)
        found = self.ledger.executed.get(key)
        if found is None or self.ledger.clock.now() - found.consensus_time > \
                RECEIPT_RETENTION_SECONDS:
            return None
        return found

    def _receipt(self, q: transaction_get_receipt_pb2.TransactionGetReceiptQuery,
                 ) -> response_pb2.Response:
        found = self._fresh(q.transactionID)
        answer = transaction_get_receipt_pb2.TransactionGetReceiptResponse(
            header=_header(codes.OK if found else codes.RECEIPT_NOT_FOUND))
        if found is not None:
            answer.receipt.CopyFrom(found.record.receipt)
        return response_pb2.Response(transactionGetReceipt=answer)

    def _record(self, q: transaction_get_record_pb2.TransactionGetRecordQuery,
                ) -> response_pb2.Response:
        cost = fees.record_query_fee()
        if q.header.responseType == query_header_pb2.ResponseType.COST_ANSWER:
            answer = transaction_get_record_pb2.TransactionGetRecordResponse(
                header=_header(codes.OK, cost, query_header_pb2.ResponseType.COST_ANSWER))
            return response_pb2.Response(transactionGetRecord=answer)
        code = self._take_query_payment(q.header.payment, cost)
        found = self._fresh(q.transactionID) if code == codes.OK else None
        if code == codes.OK and found is None:
            code = codes.RECORD_NOT_FOUND
        answer = transaction_get_record_pb2.TransactionGetRecordResponse(header=_header(code))
        if found is not None:
            answer.transactionRecord.CopyFrom(found.record)
        return response_pb2.Response(transactionGetRecord=answer)

    def _take_query_payment(self, payment: transaction_pb2.Transaction, cost: int) -> int:
        """A paid query carries a signed CryptoTransfer to the node; it is checked and applied
        like a transaction (the network runs it through consensus)."""
        try:
            parsed = parse(payment)
            payer = self.ledger.accounts.get(parsed.tx_key.payer)
            if payer is None or not is_signed_by(payer.key, parsed.body_bytes, parsed.sig_map):
                return int(codes.INVALID_SIGNATURE)
            legs = {entity(a.accountID): a.amount
                    for a in parsed.body.cryptoTransfer.transfers.accountAmounts}
        except Rejected as rejected:
            return rejected.code
        if legs.get(NODE_ACCOUNT, 0) < cost or legs.get(parsed.tx_key.payer, 0) != \
                -legs.get(NODE_ACCOUNT, 0):
            return int(codes.INSUFFICIENT_TX_FEE)
        if payer.tinybars < cost:
            return int(codes.INSUFFICIENT_PAYER_BALANCE)
        payer.tinybars -= legs[NODE_ACCOUNT]
        self.ledger.accounts[NODE_ACCOUNT].tinybars += legs[NODE_ACCOUNT]
        return int(codes.OK)

    def _balance(self, q: crypto_get_account_balance_pb2.CryptoGetAccountBalanceQuery,
                 ) -> response_pb2.Response:
        number = int(q.accountID.accountNum)
        account = self.ledger.accounts.get(number)
        answer = crypto_get_account_balance_pb2.CryptoGetAccountBalanceResponse(
            header=_header(codes.OK if account else codes.INVALID_ACCOUNT_ID),
            accountID=q.accountID)
        if account is not None:
            answer.balance = account.tinybars
            for (holder, token), rel in sorted(self.ledger.relationships.items()):
                if holder == number:
                    answer.tokenBalances.add(
                        tokenId=basic_types_pb2.TokenID(tokenNum=token), balance=rel.balance,
                        decimals=self.ledger.tokens[token].decimals)
        return response_pb2.Response(cryptogetAccountBalance=answer)


def _header(code: int, cost: int = 0,
            response_type: int = query_header_pb2.ResponseType.ANSWER_ONLY,
            ) -> response_header_pb2.ResponseHeader:
    return response_header_pb2.ResponseHeader(nodeTransactionPrecheckCode=code, cost=cost,
                                              responseType=response_type)


def _timestamp(seconds: float) -> timestamp_pb2.Timestamp:
    whole = int(seconds)
    return timestamp_pb2.Timestamp(seconds=whole, nanos=int((seconds - whole) * 1e9))


def _record(parsed: Parsed, outcome: Outcome, fee: int,
            now: float) -> transaction_record_pb2.TransactionRecord:
    record = transaction_record_pb2.TransactionRecord(
        receipt=outcome.receipt,
        transactionHash=hashlib.sha384(parsed.signed_bytes).digest(),
        consensusTimestamp=_timestamp(now), transactionID=parsed.body.transactionID,
        memo=parsed.body.memo, transactionFee=fee)
    hbar = dict(outcome.hbar) if outcome.receipt.status == codes.SUCCESS else {}
    hbar[parsed.tx_key.payer] = hbar.get(parsed.tx_key.payer, 0) - fee
    hbar[NODE_ACCOUNT] = hbar.get(NODE_ACCOUNT, 0) + fee
    for account, amount in sorted(hbar.items()):
        if amount:
            record.transferList.accountAmounts.add(
                accountID=basic_types_pb2.AccountID(accountNum=account), amount=amount)
    if outcome.receipt.status == codes.SUCCESS:
        for token, legs in sorted(outcome.tokens.items()):
            listed = record.tokenTransferLists.add(token=basic_types_pb2.TokenID(tokenNum=token))
            for account, amount in sorted(legs.items()):
                if amount:
                    listed.transfers.add(accountID=basic_types_pb2.AccountID(accountNum=account),
                                         amount=amount)
        record.new_pending_airdrops.extend(outcome.pending)
    return record
