"""The HTS rail's wiring for a process (issue #18): consensus-node clients, the signer, the
Mirror Node history, one `HtsRail` per HTS payment token, from the HEDERA_* settings.

Only a process that signs as a Hedera account is given one: a worker (the payout account,
which holds the payment token and pays holders) and the scheduler (its own account pays the
commitment's HCS message). The key (MASS_PAYOUT_HEDERA_PRIVATE_KEY) goes into the signer and
nowhere else; clients sign through the signer's callback.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from uuid import UUID

from hiero_sdk_python import AccountId, Client, TokenId

from app.hts_commitment import publish_commitment
from app.hts_executor import HtsBatchExecutor, HtsOutcome, mirror_resolved_account
from app.hts_snapshot import snapshot_from_mirror_node
from app.ledger import PayoutLedger
from chain.hedera.hts_history import MirrorTransactionHistory
from chain.hedera.hts_rail import HtsRail
from chain.hedera.hts_signer import HederaSigner, LocalHederaSigner
from chain.hedera.ids import AccountResolver
from chain.hedera.mirror_client import MirrorNodeClient
from chain.signer import SignerConfigError
from domain.distribution import Distribution, Status
from domain.planning import GasModel
from domain.rails import hts_token_id
from runtime.settings import Settings


class HtsRails:
    """One rail per payment token, built on first use and kept for the process's life."""

    def __init__(self, settings: Settings, signer: HederaSigner | None = None) -> None:
        if not settings.hts_configured():
            raise SignerConfigError("the HTS rail needs HEDERA_NODES, HEDERA_ACCOUNT_ID,"
                                    " MASS_PAYOUT_HEDERA_PRIVATE_KEY and HEDERA_MIRROR_NODE_URL")
        self.settings = settings
        self.payer = AccountId.from_string(str(settings.hedera_account))
        self.signer = signer or LocalHederaSigner.from_string(str(settings.hedera_key()))
        self.mirror = MirrorNodeClient(str(settings.hedera_mirror_node_url),
                                       rate_per_second=settings.hedera_mirror_node_rate)
        self.resolve = mirror_resolved_account(AccountResolver(self.mirror))
        self._rails: dict[str, HtsRail] = {}
        self._lock = threading.Lock()

    def client(self) -> Client:
        client = Client.for_network({address: AccountId.from_string(node)
                                     for address, node in self.settings.hedera_nodes})
        client.set_operator_with(self.payer, self.signer.public_key, self.signer.sign)
        return client

    def for_token(self, token_id: str) -> HtsRail:
        with self._lock:
            if token_id not in self._rails:
                # Lookups on their own client: a transport error benches the node it used.
                self._rails[token_id] = HtsRail(
                    client=self.client(), lookup_client=self.client(), payer=self.payer,
                    token=TokenId.from_string(token_id), signer=self.signer,
                    history=MirrorTransactionHistory(self.mirror))
            return self._rails[token_id]

    def close(self) -> None:
        self.mirror.close()


def hts_payer(ledger: PayoutLedger, rails: HtsRails) -> Callable[[UUID], HtsOutcome]:
    """What an RQ worker runs for an HTS batch (app.jobs): the executor on the rail of the
    distribution's payment token; once no leaf is left to send, the batch's pending airdrops
    are followed (claims recorded, cancelled after the claim deadline). A distribution
    stopped for want of the payer's hbar resumes first if the payer is funded again."""
    def pay(batch_id: UUID) -> HtsOutcome:
        batch = ledger.get_batch_by_id(batch_id)
        distribution = ledger.get_distribution(batch.distribution_id)
        asset = ledger.get_asset(distribution.asset_id)
        rail = rails.for_token(hts_token_id(asset.payment_token))
        executor = HtsBatchExecutor(ledger, rail, resolve=rails.resolve)
        if distribution.status is Status.WAITING_FOR_FUNDS:  # the payer had no hbar for fees
            executor.resume_after_funding(distribution.id)
        paid = executor.execute(batch_id)
        if paid.action in ("nothing-to-do", "blocked") \
                and ledger.get_batch_by_id(batch_id).hts_pending:
            # claims read, cancelled past the deadline: a blocked batch's too (its payments
            # wait for an operator, its holders' pending airdrops do not)
            return executor.follow_airdrops(batch_id)
        return paid
    return pay


def hts_automation(settings: Settings, ledger: PayoutLedger, gas_model: GasModel,
                   ) -> tuple[Callable[[Distribution], object],
                              Callable[[UUID, datetime], object]]:
    """The scheduler's HTS steps (app.automation): the snapshot, read from the Mirror Node's
    balances at the record date, and the commit, the root published to HEDERA_TOPIC_ID and
    paid by this process's own Hedera account (the approver's, not the payout account)."""
    if settings.hedera_topic is None:
        raise SignerConfigError("publishing commitments needs HEDERA_TOPIC_ID")
    rails = HtsRails(settings)
    topic = settings.hedera_topic

    def snapshot(d: Distribution) -> object:
        stamp = f"{d.terms.record_date.timestamp():.9f}"
        return snapshot_from_mirror_node(ledger, rails.mirror, d.id, timestamp=stamp,
                                         gas_model=gas_model)

    def commit(distribution_id: UUID, claim_deadline: datetime) -> object:
        d = ledger.get_distribution(distribution_id)
        token = hts_token_id(ledger.get_asset(d.asset_id).payment_token)
        return publish_commitment(ledger, rails.for_token(token), distribution_id,
                                  topic_id=topic, claim_deadline=claim_deadline,
                                  actor="scheduler")
    return snapshot, commit
