"""Reconciling an HTS distribution: the ledger against the network, holder by holder, as the
Mirror Node shows it (the HTS rail's counterpart of app/reconcile.py's vault bitmap check).

- Network side: every successful transaction the Mirror Node lists for the payout account
  (`/api/v1/transactions?account.id=…`, from `since` on) that moved the payment token out of
  it: what each account received, and what the payout account paid in all.
- Per holder, the ledger's paid amount (its leaf PAID or CLAIMED: its net) equals what the
  network shows the account received; an account the ledger did not pay received nothing.
- Every such transaction the payout account paid for is one the ledger recorded (a
  TransactionId of this distribution's batches): nothing left it behind the ledger's back.
  (A holder claiming a pending airdrop pays for the claim itself: that transfer counts in
  what the holder received, and its leaf is PAID once the ledger saw the claim.)
- With `payer_before`: the payout account's balance now is that less the ledger's total paid.
"""

from __future__ import annotations

from collections import defaultdict
from uuid import UUID

from app.ledger import PayoutLedger
from app.reconcile import Reconciliation
from chain.hedera.hts_history import mirror_transaction_id
from chain.hedera.ids import AccountResolver
from chain.hedera.mirror_client import MirrorNodeClient
from domain import accounts
from domain.batch import PAID_OUTCOMES
from domain.rails import Rail, hts_token_id


def reconcile_hts(ledger: PayoutLedger, mirror: MirrorNodeClient, distribution_id: UUID, *,
                  payer: str, since: str | None = None,
                  payer_before: int | None = None) -> Reconciliation:
    result = Reconciliation()
    distribution = ledger.get_distribution(distribution_id)
    if distribution.rail is not Rail.HTS:
        result.differences.append(f"distribution {distribution_id} is paid by the"
                                  f" {distribution.rail} rail, not HTS")
        return result
    token = hts_token_id(ledger.get_asset(distribution.asset_id).payment_token)
    resolver = AccountResolver(mirror)
    expected: dict[str, int] = {}
    recorded: set[str] = set()
    for batch in ledger.batches(distribution_id):
        recorded.update(mirror_transaction_id(t) for t in batch.tx_hashes)
        for holder in batch.holders:
            result.holders += 1
            leaf = holder.leaf_index
            paid = leaf is not None and batch.outcomes.get(leaf) in PAID_OUTCOMES
            account = accounts.hedera_id(holder.account) \
                or resolver.resolve([holder.account])[holder.account].account_id
            expected[account] = expected.get(account, 0) + (holder.net if paid else 0)
            result.ledger_paid += holder.net if paid else 0
    received = _network_payments(mirror, result, payer=payer, token=token, since=since,
                                 recorded=recorded)
    for account in sorted(set(expected) | set(received)):
        if expected.get(account, 0) != received.get(account, 0):
            result.differences.append(f"{account}: the network shows {received.get(account, 0)}"
                                      f" received, the ledger {expected.get(account, 0)} paid")
    if result.chain_paid != result.ledger_paid:
        result.differences.append(f"{payer} paid {result.chain_paid}, the ledger"
                                  f" {result.ledger_paid}")
    if payer_before is not None:
        rows = mirror.get(f"/api/v1/tokens/{token}/balances",
                          {"account.id": payer}).get("balances") or []
        now = sum(int(r["balance"]) for r in rows if r.get("account") == payer)
        if payer_before - now != result.ledger_paid:
            result.differences.append(f"{payer} held {payer_before} and holds {now}: down"
                                      f" {payer_before - now}, the ledger paid"
                                      f" {result.ledger_paid}")
    return result


def _network_payments(mirror: MirrorNodeClient, result: Reconciliation, *, payer: str,
                      token: str, since: str | None, recorded: set[str]) -> dict[str, int]:
    """What each account received of `token` from `payer`, by the Mirror Node; adds the
    payer's total to `result.chain_paid` and a difference per unrecorded transaction."""
    received: dict[str, int] = defaultdict(int)
    params: dict[str, str] = {"account.id": payer, "order": "asc"}
    if since is not None:
        params["timestamp"] = f"gte:{since}"
    for page in mirror.pages("/api/v1/transactions", params, "transactions"):
        for tx in page:
            legs = [leg for leg in tx.get("token_transfers") or []
                    if leg.get("token_id") == token]
            debit = -sum(int(leg["amount"]) for leg in legs if leg.get("account") == payer)
            if tx.get("result") != "SUCCESS" or debit <= 0:
                continue
            # Paid by the payout account: one the ledger recorded. A holder's own claim of
            # an airdrop (paid by the holder) is checked by what each account received.
            paid_by_payer = str(tx.get("transaction_id", "")).startswith(f"{payer}-")
            if paid_by_payer and tx.get("transaction_id") not in recorded:
                result.differences.append(f"{tx.get('transaction_id')} paid {debit} from"
                                          f" {payer}: not a transaction the ledger recorded")
            result.chain_paid += debit
            for leg in legs:
                if leg.get("account") != payer and int(leg["amount"]) > 0:
                    received[str(leg["account"])] += int(leg["amount"])
    return received
