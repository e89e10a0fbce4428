"""PayoutLedger: the only write path. Each command loads, decides, and saves atomically.

Library errors are translated here, at the boundary, into the domain's own errors, so callers
(API, CLI, workers) handle one hierarchy.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, JSONTranscoder

from app.fact_applier import FactApplier
from app.held_airdrops import HeldAirdrops
from app.redaction import redact
from domain import ids
from domain.asset import Asset, AssetKind, BondTerms, CorporateAction
from domain.audit_runs import AuditRun
from domain.batch import BatchStatus, PayoutBatch
from domain.chain_facts import BatchSettledOnChain, ChainFact, LeafFailed, LeavesPaid
from domain.cursor import ChainCursor, ReorgDetected
from domain.distribution import Distribution, Status
from domain.entitlements import Snapshot, Totals
from domain.errors import (
    AlreadyExists,
    IdempotencyConflict,
    IllegalTransition,
    InvalidInput,
    InvalidTerms,
    NotFound,
)
from domain.hts_transaction_ids import HtsTransactionIdUse, TransactionIdTaken
from domain.planning import GasModel
from domain.rails import Rail, check_rail
from domain.redemption import check_cash_out
from domain.schedule import (
    MissedPolicy,
    Occurrence,
    Schedule,
    ScheduleStatus,
    occurrence_terms,
)
from domain.snapshot_plan import batch_gas_model, plan_snapshot
from domain.terms import DistributionTerms, ExecutionKind, Trigger
from domain.topics import register_moved_topics
from domain.transcodings import TRANSCODINGS
from domain.treasury import SweepDestination, TreasuryTx
from domain.vault_admin import VaultAction, VaultOps
from domain.webhooks import WebhookEndpoint

A = TypeVar("A", bound=Aggregate)


class PayoutLedger(Application[UUID]):
    name = "PayoutLedger"

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        register_moved_topics()  # before anything is read: old topics resolve to their class
        super().register_transcodings(transcoder)
        for transcoding in TRANSCODINGS:
            transcoder.register(transcoding)

    # --- helpers ---

    def _get(self, aggregate_id: UUID, kind: type[A]) -> A:
        try:
            aggregate: object = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            raise NotFound(f"no {kind.__name__} {aggregate_id}") from None
        if not isinstance(aggregate, kind):
            raise NotFound(f"{aggregate_id} is not a {kind.__name__}")
        return aggregate

    def _save(self, *aggregates: Aggregate) -> int:
        """Save atomically; return the ledger position of the last event (read-your-writes)."""
        try:
            recordings = self.save(*aggregates)
        except IntegrityError:
            # Another process recorded the same deterministic id or version first.
            raise AlreadyExists("a concurrent command changed this aggregate; retry") from None
        return recordings[-1].notification.id if recordings else 0

    # --- assets ---

    def import_asset(self, *, chain_id: int, token_address: str, name: str, symbol: str,
                     decimals: int, kind: AssetKind | str, payment_token: str,
                     payment_decimals: int, vault_address: str | None, actor: str) -> UUID:
        """Import once; importing the same facts again is a no-op returning the same id."""
        asset = Asset.import_token(
            chain_id=chain_id, token_address=token_address, name=name, symbol=symbol,
            decimals_=decimals, kind=kind, payment_token=payment_token,
            payment_decimals=payment_decimals, vault_address=vault_address, actor=actor,
        )
        if asset.id in self.repository:
            existing = self.get_asset(asset.id)
            facts = ("name", "symbol", "decimals", "kind", "payment_token", "payment_decimals")
            if any(getattr(existing, f) != getattr(asset, f) for f in facts):
                raise AlreadyExists(f"asset {asset.id} was imported with different facts")
            if asset.vault_address and existing.vault_address \
                    and asset.vault_address != existing.vault_address:
                raise AlreadyExists(f"asset {asset.id} already pays through vault"
                                    f" {existing.vault_address}, not {asset.vault_address}")
            return asset.id
        self._save(asset)
        return asset.id

    def get_asset(self, asset_id: UUID) -> Asset:
        return self._get(asset_id, Asset)

    def pause_asset(self, asset_id: UUID, actor: str, reason: str = "") -> int:
        asset = self.get_asset(asset_id)
        asset.pause(actor, reason)
        return self._save(asset)

    def resume_asset(self, asset_id: UUID, actor: str) -> int:
        asset = self.get_asset(asset_id)
        asset.resume(actor)
        return self._save(asset)

    def switch_asset_sync(self, asset_id: UUID, enabled: bool, actor: str) -> int:
        asset = self.get_asset(asset_id)
        asset.switch_sync(enabled, actor)
        return self._save(asset)

    def link_vault(self, asset_id: UUID, vault_address: str, actor: str) -> int:
        asset = self.get_asset(asset_id)
        asset.link_vault(vault_address, actor)
        return self._save(asset)

    def record_corporate_actions(self, asset_id: UUID, actions: list[CorporateAction]) -> int:
        """Record the token's declared dividends/coupons; already-known ones are skipped."""
        asset = self.get_asset(asset_id)
        new = [a for a in actions if asset.record_corporate_action(
            action_id=a.action_id, kind=a.kind, record_date=a.record_date,
            execution_date=a.execution_date, amount_per_unit=a.amount_per_unit)]
        return self._save(asset) if new else 0

    def update_bond_terms(self, asset_id: UUID, terms: BondTerms, *, actor: str,
                          reason: str) -> int:
        """Record a bond's terms (read from its token, or the coupon's set by an operator);
        the same terms again record nothing and return 0."""
        asset = self.get_asset(asset_id)
        return self._save(asset) if asset.update_bond_terms(terms, actor=actor,
                                                            reason=reason) else 0

    def set_sweep_accounts(self, asset_id: UUID, *, tax_authority: str | None,
                           dust: str | None, actor: str, reason: str) -> int:
        """Where the asset's withheld tax and dust may be swept; the same again records
        nothing and returns 0."""
        asset = self.get_asset(asset_id)
        changed = asset.set_sweep_accounts(tax_authority=tax_authority, dust=dust,
                                           actor=actor, reason=reason)
        return self._save(asset) if changed else 0

    # --- distributions ---

    def create_distribution(self, *, asset_id: UUID, idempotency_key: str,
                            terms: DistributionTerms, actor: str,
                            payment_decimals: int | None = None,
                            rail: Rail = Rail.VAULT) -> UUID:
        """Same key + same terms → the same distribution; same key + other terms → conflict.
        `rail`: how it pays (domain.rails), checked against the asset before anything is
        recorded and recorded with it."""
        asset = self.get_asset(asset_id)
        check_rail(rail, chain_id=asset.chain_id, payment_token=asset.payment_token,
                   kind=terms.kind, trigger=terms.execution.trigger)
        if payment_decimals is not None and payment_decimals != asset.payment_decimals:
            raise InvalidInput(f"the asset pays in a token of {asset.payment_decimals} decimals,"
                               f" not {payment_decimals}")
        if asset.paused:
            raise InvalidInput(f"asset {asset.symbol} is paused")
        if terms.execution.kind is ExecutionKind.RECURRING \
                or terms.execution.trigger is Trigger.ON_CORPORATE_ACTION_DATE:
            raise InvalidTerms(f"{terms.execution.kind} {terms.execution.trigger or ''}".strip()
                               + " spawns many distributions: define a schedule instead")
        check_cash_out(asset, terms)  # before maturity: refused, nothing recorded
        distribution_id = ids.distribution_id(asset_id, idempotency_key)
        if distribution_id in self.repository:
            existing = self.get_distribution(distribution_id)
            if existing.terms != terms or existing.created_by != actor \
                    or existing.rail is not rail:
                raise IdempotencyConflict(
                    f"idempotency key {idempotency_key!r} was used for a different request"
                )
            return distribution_id
        distribution = Distribution.create(
            asset_id=asset_id, idempotency_key=idempotency_key, terms=terms,
            asset_decimals=asset.decimals, payment_decimals=asset.payment_decimals, actor=actor,
        )
        distribution.choose_rail(rail, actor)
        self._save(distribution)
        return distribution.id

    def get_distribution(self, distribution_id: UUID) -> Distribution:
        return self._get(distribution_id, Distribution)

    def approve_distribution(self, distribution_id: UUID, actor: str) -> int:
        distribution = self.get_distribution(distribution_id)
        distribution.approve(actor)
        return self._save(distribution)

    def cancel_distribution(self, distribution_id: UUID, actor: str, reason: str) -> int:
        distribution = self.get_distribution(distribution_id)
        distribution.cancel(actor, reason)
        return self._save(distribution)

    def snapshot_distribution(self, distribution_id: UUID, *, snapshot: Snapshot,
                              snapshot_ref: str, gas_model: GasModel,
                              vault_balance: int | None = None) -> Totals:
        """Freeze the record-date balances into entitlements, a Merkle root and batches.

        Everything (the distribution's totals, every batch and every holder's entitlement) is
        one atomic save: either the whole snapshot is recorded or none of it.
        """
        distribution = self.get_distribution(distribution_id)
        distribution.require_transition(Status.SNAPSHOTTED)  # fail before the heavy work
        gas_model = batch_gas_model(distribution.terms, gas_model)  # a cash-out's costs more
        hts = distribution.rail is Rail.HTS
        planned = plan_snapshot(distribution.terms, snapshot, distribution.asset_decimals,
                                vault_balance, gas_model,  # the preview's very steps
                                rail=distribution.rail)
        plans, totals, tree, vault_balance = (planned.batches, planned.totals, planned.tree,
                                              planned.vault_balance)
        batches = []
        for plan in plans:
            proof = tree.range_proof(plan.first_leaf, plan.leaf_count) if plan.leaf_count else []
            batches.append(PayoutBatch.plan(
                distribution_id=distribution.id, number=plan.number, first_leaf=plan.first_leaf,
                holders=plan.holders, range_proof=proof,
                gas_limit=0 if hts else gas_model.gas_limit(plan.leaf_count, tree.leaf_count),
            ))
            plan.holders = []  # release as we go: peak memory is one copy of the holders
        distribution.record_snapshot(
            snapshot_ref=snapshot_ref, vault_balance=vault_balance, totals=totals,
            merkle_root=tree.root, batch_first_leaves=[b.first_leaf for b in batches],
        )
        self._save(distribution, *batches)
        return totals

    def commit_distribution(self, distribution_id: UUID, *, tx_hash: str,
                            claim_deadline: datetime, actor: str) -> int:
        distribution = self.get_distribution(distribution_id)
        distribution.commit(tx_hash=tx_hash, claim_deadline=claim_deadline, actor=actor)
        return self._save(distribution)

    # --- an HTS distribution's commit: its root on an HCS topic (app.hts_commitment) ---

    def record_commitment_submission(self, distribution_id: UUID, *, transaction_id: str,
                                     topic_id: str, valid_start_ns: int,
                                     valid_seconds: int) -> int:
        distribution = self.get_distribution(distribution_id)
        distribution.record_commitment_submission(
            transaction_id=transaction_id, topic_id=topic_id, valid_start_ns=valid_start_ns,
            valid_seconds=valid_seconds)
        return self._save_with_transaction_id(distribution, transaction_id)

    def abandon_commitment(self, distribution_id: UUID, *, transaction_id: str,
                           reason: str) -> int:
        distribution = self.get_distribution(distribution_id)
        distribution.abandon_commitment(transaction_id=transaction_id, reason=reason)
        return self._save(distribution)

    def publish_commitment(self, distribution_id: UUID, *, transaction_id: str,
                           sequence_number: int, claim_deadline: datetime, actor: str) -> int:
        distribution = self.get_distribution(distribution_id)
        distribution.publish_commitment(transaction_id=transaction_id,
                                        sequence_number=sequence_number,
                                        claim_deadline=claim_deadline, actor=actor)
        return self._save(distribution)

    def start_execution(self, distribution_id: UUID, actor: str) -> int:
        distribution = self.get_distribution(distribution_id)
        distribution.start_execution(actor)
        return self._save(distribution)

    # --- treasury operations: reclaim and sweep (four eyes; sent by the treasurer's key) ---

    def request_reclaim(self, distribution_id: UUID, *, actor: str, reason: str,
                        now: datetime) -> tuple[int, int]:
        """Returns (operation number, position). Before the claim deadline: InvalidInput."""
        distribution = self.get_distribution(distribution_id)
        number = distribution.request_reclaim(actor=actor, reason=reason, now=now)
        return number, self._save(distribution)

    def request_sweep(self, distribution_id: UUID, *, actor: str, amount: int, reason: str,
                      now: datetime, destination: SweepDestination = SweepDestination.TREASURY,
                      ) -> tuple[int, int]:
        """To the treasury, or to the asset's configured tax authority or dust account: the
        address is resolved now and recorded with the request, so the approver sees it."""
        distribution = self.get_distribution(distribution_id)
        recipient = None
        if destination is not SweepDestination.TREASURY:
            asset = self.get_asset(distribution.asset_id)
            recipient = asset.sweep_accounts.get(destination.value)
            if recipient is None:
                raise InvalidInput(f"asset {asset.symbol} has no {destination.value} account"
                                   " configured (PUT /assets/{id}/sweep-accounts)")
        number = distribution.request_sweep(actor=actor, amount=amount, reason=reason, now=now,
                                            destination=destination, recipient=recipient)
        return number, self._save(distribution)

    def approve_treasury_op(self, distribution_id: UUID, number: int, actor: str) -> int:
        distribution = self.get_distribution(distribution_id)
        distribution.approve_treasury_op(number, actor)
        return self._save(distribution)

    def record_treasury_submission(self, distribution_id: UUID, number: int, *, tx_hash: str,
                                   nonce: int, signed_at: datetime,
                                   expected_version: int | None = None) -> int:
        """The treasurer's signed transaction, recorded before it is broadcast, with the
        index the ingestor finds a `Swept` log's distribution by."""
        distribution = self.get_distribution(distribution_id)
        if expected_version is not None and distribution.version != expected_version:
            raise AlreadyExists(f"distribution {distribution_id} changed since it was read")
        distribution.record_treasury_submission(number, tx_hash=tx_hash, nonce=nonce,
                                                signed_at=signed_at)
        sent = TreasuryTx.sent(tx_hash=tx_hash, distribution_id=distribution_id, number=number)
        return self._save(distribution, sent)

    def reject_treasury_submission(self, distribution_id: UUID, number: int, *, tx_hash: str,
                                   reason: str) -> int:
        distribution = self.get_distribution(distribution_id)
        distribution.reject_treasury_op(number, tx_hash=tx_hash, reason=redact(reason))
        return self._save(distribution)

    # --- vault administration asked for through the API (domain.vault_admin) ---

    def vault_ops(self, asset_id: UUID) -> VaultOps | None:
        ops_id = VaultOps.create_id(asset_id)
        return self._get(ops_id, VaultOps) if ops_id in self.repository else None

    def request_vault_op(self, asset_id: UUID, *, action: VaultAction | str,
                         role: str | None = None, account: str | None = None,
                         target: str | None = None, reason: str, actor: str,
                         now: datetime) -> tuple[int, int]:
        """(request number, position). Bad input (an unknown role, a malformed account, an
        asset with no vault): a DomainError, nothing recorded."""
        asset = self.get_asset(asset_id)
        if not asset.vault_address:
            raise InvalidInput(f"asset {asset.symbol} pays through no vault")
        ops = self.vault_ops(asset_id) or VaultOps.open(asset_id, asset.vault_address)
        number = ops.request(action=action, role=role, account=account, target=target,
                             reason=reason, actor=actor, now=now)
        return number, self._save(ops)

    def approve_vault_op(self, asset_id: UUID, number: int, actor: str) -> int:
        ops = self._vault_ops(asset_id)
        ops.approve(number, actor)
        return self._save(ops)

    def record_vault_submission(self, asset_id: UUID, number: int, *, tx_hash: str,
                                nonce: int, signed_at: datetime,
                                expected_version: int | None = None) -> int:
        """Recorded before the transaction is broadcast (the ingestor settles it by hash)."""
        ops = self._vault_ops(asset_id)
        if expected_version is not None and ops.version != expected_version:
            raise AlreadyExists(f"the vault requests of asset {asset_id} changed since read")
        ops.record_submission(number, tx_hash=tx_hash, nonce=nonce, signed_at=signed_at)
        return self._save(ops)

    def record_vault_deployment(self, asset_id: UUID, number: int, *, tx_hash: str,
                                nonce: int, signed_at: datetime, expected_version: int) -> int:
        """An upgrade's implementation deployment, recorded before it is broadcast."""
        ops = self._vault_ops(asset_id)
        if ops.version != expected_version:
            raise AlreadyExists(f"the vault requests of asset {asset_id} changed since read")
        ops.record_deployment(number, tx_hash=tx_hash, nonce=nonce, signed_at=signed_at)
        return self._save(ops)

    def record_vault_implementation(self, asset_id: UUID, number: int, *, tx_hash: str,
                                    address: str) -> int:
        """The deployment's mined contract; 0 when it was recorded already."""
        ops = self._vault_ops(asset_id)
        changed = ops.record_implementation(number, tx_hash=tx_hash, address=address)
        return self._save(ops) if changed else 0

    def reject_vault_submission(self, asset_id: UUID, number: int, *, tx_hash: str,
                                reason: str) -> int:
        ops = self._vault_ops(asset_id)
        ops.reject(number, tx_hash=tx_hash, reason=redact(reason))
        return self._save(ops)

    def _vault_ops(self, asset_id: UUID) -> VaultOps:
        ops = self.vault_ops(asset_id)
        if ops is None:
            raise NotFound(f"asset {asset_id} has no vault requests")
        return ops

    def treasury_tx(self, tx_hash: str) -> TreasuryTx | None:
        tx_id = TreasuryTx.create_id(tx_hash)
        return self._get(tx_id, TreasuryTx) if tx_id in self.repository else None

    # --- batches ---

    def get_batch(self, distribution_id: UUID, number: int) -> PayoutBatch:
        return self._get(ids.batch_id(distribution_id, number), PayoutBatch)

    def batches(self, distribution_id: UUID) -> Iterator[PayoutBatch]:
        distribution = self.get_distribution(distribution_id)
        for number in range(distribution.batch_count):
            yield self.get_batch(distribution_id, number)


    def get_batch_by_id(self, batch_id: UUID) -> PayoutBatch:
        return self._get(batch_id, PayoutBatch)

    # --- execution: what workers record, and what the chain says happened ---

    def record_submission(self, batch_id: UUID, *, tx_hash: str, nonce: int,
                          leaf_indices: list[int], signed_at: datetime,
                          expected_version: int | None = None) -> int:
        """A worker's signed transaction, recorded before it is broadcast.

        `expected_version` guards against a submission another worker recorded meanwhile.
        """
        batch = self.get_batch_by_id(batch_id)
        if expected_version is not None and batch.version != expected_version:
            raise AlreadyExists(f"batch {batch.number} changed since it was read; not submitting")
        batch.record_submission(tx_hash=tx_hash, nonce=nonce, leaf_indices=leaf_indices,
                                signed_at=signed_at)
        return self._save(batch)

    def reject_submission(self, batch_id: UUID, *, tx_hash: str, reason: str) -> int:
        batch = self.get_batch_by_id(batch_id)
        batch.reject_submission(tx_hash=tx_hash, reason=redact(reason))
        return self._save(batch)

    # --- the HTS rail: a TransactionId recorded before submitting; its fate from Hedera ---

    def record_hts_submission(self, batch_id: UUID, *, transaction_id: str,
                              valid_start_ns: int, valid_seconds: int, kind: str,
                              leaf_indices: list[int], expected_version: int | None = None,
                              cancel_expects: dict[int, list[str]] | None = None) -> int:
        batch = self.get_batch_by_id(batch_id)
        if expected_version is not None and batch.version != expected_version:
            raise AlreadyExists(f"batch {batch.number} changed since it was read; not submitting")
        batch.record_hts_submission(transaction_id=transaction_id, valid_start_ns=valid_start_ns,
                                    valid_seconds=valid_seconds, kind=kind,
                                    leaf_indices=leaf_indices)
        # Mirrored on each holder's pending airdrop (domain/hts_pending.py): an airdrop is
        # held back while a cancellation there is in flight, and a cancellation waits for
        # airdrops in flight there; from now on its holders' vanishing is not a claim.
        held = self.held_airdrops()
        held.submitted(batch, transaction_id, kind, leaf_indices, cancel_expects)
        return self._save_with_transaction_id(batch, transaction_id, *held.all())

    def mirror_airdrop_in_flight(self, batch_id: UUID, *, transaction_id: str) -> int:
        """An open airdrop about to be sent again under its TransactionId is in flight on
        its holders' pending airdrops (one recorded by the code before they were kept was
        not): AirdropHeldBack, and nothing recorded, while a cancellation there is open."""
        batch = self.get_batch_by_id(batch_id)
        held = self.held_airdrops()
        if transaction_id in batch.hts_open:
            held.submitted(batch, transaction_id, "airdrop",
                           batch.submitted_leaves[transaction_id])
        changed = held.changed()
        return self._save(*changed) if changed else 0

    def held_airdrops(self) -> HeldAirdrops:
        """A reader of the holders' pending airdrops (domain/hts_pending.py), each loaded
        once: a job run reads them through one."""
        return HeldAirdrops(self.repository.get, self.get_distribution, self.get_asset)

    def adopt_pending_airdrops(self, batch_id: UUID) -> int:
        """Hold the batch's leaves that went pending before their holders' pending airdrops
        were kept (app/held_airdrops.py); 0, and nothing saved, when there are none."""
        held = self.held_airdrops()
        held.adopt(self.get_batch_by_id(batch_id))
        changed = held.changed()
        return self._save(*changed) if changed else 0

    def _save_with_transaction_id(self, aggregate: Aggregate, transaction_id: str,
                                  *others: Aggregate) -> int:
        """Save `aggregate` (and `others`) with the TransactionId's ledger-wide use, in one
        save: a second use of it, by any process, records nothing
        (domain.hts_transaction_ids)."""
        use = HtsTransactionIdUse.use(transaction_id=transaction_id, recorded_by=aggregate.id)
        try:
            return self._save(aggregate, *others, use)
        except AlreadyExists:
            if use.id in self.repository:
                raise TransactionIdTaken(f"{transaction_id} is already used; choose another"
                                         " valid start") from None
            raise

    def record_hts_dead(self, batch_id: UUID, *, transaction_id: str) -> int:
        batch = self.get_batch_by_id(batch_id)
        held = self.held_airdrops()
        held.unsettled(batch, transaction_id, "DEAD")
        batch.record_hts_dead(transaction_id=transaction_id)
        return self._save(batch, *held.all())

    def record_hts_failed(self, batch_id: UUID, *, transaction_id: str, status: str) -> int:
        batch = self.get_batch_by_id(batch_id)
        held = self.held_airdrops()
        held.unsettled(batch, transaction_id, status)
        batch.record_hts_failed(transaction_id=transaction_id, status=status)
        return self._save(batch, *held.all())

    def apply_hts_outcome(self, batch_id: UUID, *, transaction_id: str, status: str,
                          pending: list[int] | None = None) -> int:
        """A settled HTS transaction's final status (a receipt or the Mirror Node's record),
        applied as the chain facts the EVM ingestor would produce: a CryptoTransfer is atomic,
        so its leaves were all paid (SUCCESS) or all failed with that status. A successful
        airdrop paid its leaves except `pending` (holders not associated: their tokens stay
        with the payer until they claim). Idempotent."""
        batch = self.get_batch_by_id(batch_id)
        if transaction_id in batch.settled_txs:
            return 0
        leaves = batch.submitted_leaves.get(transaction_id)
        if leaves is None or transaction_id not in batch.hts_open:
            raise InvalidInput(f"{transaction_id} is not an open HTS transaction of batch"
                               f" {batch.number}")
        did = batch.distribution_id
        pending = sorted(pending or []) if status == "SUCCESS" else []
        credited = tuple(i for i in leaves if i not in pending)
        facts: list[ChainFact] = [LeavesPaid(did, credited, transaction_id)] \
            if status == "SUCCESS" else [
                LeafFailed(did, i, batch.leaves[i].account, status, transaction_id)
                for i in leaves]
        paid = len(credited) if status == "SUCCESS" else 0
        facts.append(BatchSettledOnChain(
            did, first_index=batch.first_leaf, count=batch.leaf_count, paid=paid,
            failed=len(leaves) - paid, skipped=0,
            amount_paid=sum(batch.leaves[i].net for i in credited) if paid else 0,
            tx_hash=transaction_id, gas_used=0))
        applier = FactApplier(self.get_distribution, self.get_batch, self.get_asset)
        for fact in facts[:-1]:
            applier.apply(fact)
        if pending:
            applier.change_leaves(did, pending, lambda b: b.record_airdrop_pending(
                transaction_id=transaction_id, leaf_indices=pending))
        applier.apply(facts[-1])
        if applier.unapplied:
            raise IllegalTransition(f"{transaction_id}: {applier.unapplied[0][1]}")
        held = self.held_airdrops()
        held.airdrop_settled(batch, transaction_id, pending)
        return self._save(*applier.finish(0, 0), *held.all())

    def record_airdrops_claimed(self, batch_id: UUID, *, leaf_indices: list[int],
                                indexed_until: float) -> int:
        """Holders claimed these leaves' pending airdrops (HIP-904): paid now, with every
        leaf of another batch merged into the same pending airdrop (one claim ends it all).
        Refused while a cancellation of one of them is in flight."""
        batch = self.get_batch_by_id(batch_id)
        held = self.held_airdrops()
        also = held.claimed(batch, leaf_indices, indexed_until)
        applier = FactApplier(self.get_distribution, self.get_batch, self.get_asset)
        applier.change_leaves(batch.distribution_id, leaf_indices,
                              lambda b: b.record_airdrop_claimed(leaf_indices=leaf_indices,
                                                                 indexed_until=indexed_until))
        for other, others in sorted(also.items()):
            applier.change_leaves(self.get_batch_by_id(other).distribution_id, others,
                                  _claimed_with(others, indexed_until))
        return self._save(*applier.finish(0, 0), *held.all())

    def record_airdrops_cancelled(self, batch_id: UUID, *, transaction_id: str) -> int:
        """A TokenCancelAirdrop settled SUCCESS: its leaves were never paid (CANCELLED)."""
        batch = self.get_batch_by_id(batch_id)
        leaves = batch.submitted_leaves.get(transaction_id)
        if not leaves:
            raise InvalidInput(f"{transaction_id} is not an HTS transaction of batch"
                               f" {batch.number}")
        applier = FactApplier(self.get_distribution, self.get_batch, self.get_asset)
        applier.change_leaves(batch.distribution_id, leaves,
                              lambda b: b.record_airdrop_cancelled(transaction_id=transaction_id))
        held = self.held_airdrops()
        for other, others in sorted(held.cancelled(batch, transaction_id, leaves).items()):
            applier.change_leaves(self.get_batch_by_id(other).distribution_id, others,
                                  _cancelled_with(transaction_id, others))
        return self._save(*applier.finish(0, 0), *held.all())

    def await_funds(self, distribution_id: UUID, *, needed: int, available: int) -> int:
        distribution = self.get_distribution(distribution_id)
        distribution.await_funds(needed=needed, available=available)
        return self._save(distribution)

    def expire_distribution(self, distribution_id: UUID) -> int:
        """The claim deadline passed: what is still unpaid can only be reclaimed now."""
        distribution = self.get_distribution(distribution_id)
        net = distribution.totals.net if distribution.totals else 0
        distribution.expire(unpaid=net - distribution.amount_paid)
        return self._save(distribution)

    def resume_with_funds(self, distribution_id: UUID, *, available: int, needed: int) -> int:
        distribution = self.get_distribution(distribution_id)
        distribution.resume_with_funds(available=available, needed=needed)
        return self._save(distribution)

    def record_attempt_failure(self, batch_id: UUID, *, reason: str,
                               retry_at: datetime | None, expected_version: int | None = None
                               ) -> int:
        """A transient fault stopped a worker's attempt: when it is tried again, or given up."""
        batch = self.get_batch_by_id(batch_id)
        if expected_version is not None and batch.version != expected_version:
            raise AlreadyExists(f"batch {batch.number} changed since it was read")
        batch.record_attempt_failure(reason=redact(reason), retry_at=retry_at)
        return self._save(batch)

    def retry_distribution(self, distribution_id: UUID, *, actor: str, reason: str,
                           leaf_indices: list[int] | None = None,
                           only: Callable[[str], bool] | None = None) -> tuple[int, int, int]:
        """Send failed leaves again and unblock blocked batches, in one save.

        `leaf_indices` narrows it to those leaves (each must have failed); `only` to failures
        whose reason it accepts. Returns (position, leaves retried, batches unblocked).
        """
        distribution = self.get_distribution(distribution_id)
        wanted = None if leaf_indices is None else set(leaf_indices)
        if wanted is not None:
            for leaf in wanted:
                distribution.batch_of_leaf(leaf)  # refuses leaves outside the distribution
        changed: list[PayoutBatch] = []
        leaves = unblocked = 0
        for batch in self.batches(distribution_id):
            failed = [i for i in batch.failed_leaves()
                      if (wanted is None or i in wanted)
                      and (only is None or only(batch.failure_reasons.get(i, "")))]
            if wanted is not None:
                wanted -= set(failed)
            blocked = batch.status is BatchStatus.BLOCKED and only is None
            if failed or blocked:
                batch.request_retry(leaf_indices=failed, actor=actor)
                changed.append(batch)
                leaves += len(failed)
                unblocked += int(blocked)
        if wanted:
            raise IllegalTransition(f"leaves {sorted(wanted)[:5]} have not failed")
        distribution.request_retry(actor=actor, leaves=leaves, unblocked_batches=unblocked,
                                   reason=reason)
        return self._save(distribution, *changed), leaves, unblocked

    # --- schedules ---

    def define_schedule(self, *, asset_id: UUID, key: str, terms: DistributionTerms,
                        missed_policy: MissedPolicy | str, misfire_grace: timedelta,
                        actor: str) -> UUID:
        """Same key + same definition → the same schedule; same key + another → conflict."""
        asset = self.get_asset(asset_id)
        schedule = Schedule.define(asset_id=asset.id, key=key, terms=terms,
                                   missed_policy=missed_policy, misfire_grace=misfire_grace,
                                   actor=actor)
        if schedule.id in self.repository:
            existing = self.get_schedule(schedule.id)
            same = (existing.terms, existing.missed_policy, existing.misfire_grace,
                    existing.created_by) == (schedule.terms, schedule.missed_policy,
                                             schedule.misfire_grace, schedule.created_by)
            if not same:
                raise IdempotencyConflict(f"schedule key {key!r} was used for another schedule")
            return schedule.id
        self._save(schedule)
        return schedule.id

    def get_schedule(self, schedule_id: UUID) -> Schedule:
        return self._get(schedule_id, Schedule)

    def approve_schedule(self, schedule_id: UUID, actor: str) -> int:
        schedule = self.get_schedule(schedule_id)
        schedule.approve(actor)
        return self._save(schedule)

    def pause_schedule(self, schedule_id: UUID, actor: str, reason: str) -> int:
        schedule = self.get_schedule(schedule_id)
        schedule.pause(actor, reason)
        return self._save(schedule)

    def resume_schedule(self, schedule_id: UUID, actor: str) -> int:
        schedule = self.get_schedule(schedule_id)
        schedule.resume(actor)
        return self._save(schedule)

    def cancel_schedule(self, schedule_id: UUID, actor: str, reason: str) -> int:
        schedule = self.get_schedule(schedule_id)
        schedule.cancel(actor, reason)
        return self._save(schedule)

    def fire_schedule(self, schedule_id: UUID, now: datetime) -> list[UUID]:
        """Spawn what is due at `now` (missed ones per the policy): one atomic save.

        Each occurrence's distribution is created by the schedule's creator and approved by
        its approver. A second scheduler firing the same schedule conflicts on the schedule's
        version (AlreadyExists) and spawns nothing: occurrence ids are deterministic anyway.
        """
        schedule = self.get_schedule(schedule_id)
        if schedule.status is not ScheduleStatus.ACTIVE:
            return []  # pending approval, paused, or ended (perhaps by a twin just now)
        asset = self.get_asset(schedule.asset_id)
        if asset.paused:
            return []  # occurrences stay due; the policy decides once the asset resumes
        actions = {a.action_id: a for a in asset.corporate_actions.values()} \
            if schedule.on_corporate_actions else {}
        candidates = [Occurrence(a.action_id, a.execution_date) for a in actions.values()
                      if a.kind == ("COUPON" if asset.kind == AssetKind.BOND else "DIVIDEND")]
        to_spawn = schedule.fire(now, schedule.due(now, candidates))
        created: list[Distribution] = []
        for occurrence in to_spawn:
            distribution_id = schedule.spawned_occurrence(occurrence, now)
            if distribution_id in self.repository:
                continue  # e.g. the same corporate action paid by hand: never twice
            distribution = Distribution.create_with_id(
                distribution_id, asset_id=asset.id,
                idempotency_key=schedule.occurrence_key(occurrence.number),
                terms=occurrence_terms(schedule, occurrence, actions.get(occurrence.number)),
                asset_decimals=asset.decimals, payment_decimals=asset.payment_decimals,
                actor=schedule.created_by)
            distribution.approve(str(schedule.approved_by))
            created.append(distribution)
        schedule.finish_if_exhausted()
        if schedule.pending_events:
            self._save(schedule, *created)
        return [d.id for d in created]

    # --- webhook endpoints (their secrets live outside the log: app.webhooks) ---

    def create_webhook_endpoint(self, endpoint_id: UUID, *, url: str, event_types: list[str],
                                description: str, actor: str,
                                allow: tuple[str, ...] = ()) -> UUID:
        if endpoint_id in self.repository:
            raise AlreadyExists(f"webhook endpoint {endpoint_id} exists")
        endpoint = WebhookEndpoint.register(endpoint_id, url=url, event_types=event_types,
                                            description=description, actor=actor, allow=allow)
        self._save(endpoint)
        return endpoint.id

    def get_webhook_endpoint(self, endpoint_id: UUID) -> WebhookEndpoint:
        return self._get(endpoint_id, WebhookEndpoint)

    def update_webhook_endpoint(self, endpoint_id: UUID, *, actor: str, url: str | None = None,
                                event_types: list[str] | None = None,
                                description: str | None = None,
                                allow: tuple[str, ...] = ()) -> int:
        endpoint = self.get_webhook_endpoint(endpoint_id)
        changed = endpoint.update(actor=actor, url=url, event_types=event_types,
                                  description=description, allow=allow)
        return self._save(endpoint) if changed else 0

    def disable_webhook_endpoint(self, endpoint_id: UUID, actor: str, reason: str) -> int:
        endpoint = self.get_webhook_endpoint(endpoint_id)
        endpoint.disable(actor, redact(reason))
        return self._save(endpoint)

    def enable_webhook_endpoint(self, endpoint_id: UUID, actor: str) -> int:
        endpoint = self.get_webhook_endpoint(endpoint_id)
        endpoint.enable(actor)
        return self._save(endpoint)

    def rotate_webhook_secret(self, endpoint_id: UUID, *, version: int, actor: str,
                              previous_until: datetime) -> int:
        """`version`: where the caller stored the new secret, the endpoint's next version (a
        concurrent change makes this a conflict, never a rotation to an unstored secret)."""
        endpoint = self.get_webhook_endpoint(endpoint_id)
        if endpoint.version + 1 != version:
            raise IllegalTransition(f"webhook endpoint {endpoint_id} changed meanwhile; retry")
        endpoint.rotate_secret(actor, previous_until)
        return self._save(endpoint)

    def get_cursor(self, chain_id: int, contract: str) -> ChainCursor | None:
        cursor_id = ChainCursor.create_id(chain_id, contract)
        return self._get(cursor_id, ChainCursor) if cursor_id in self.repository else None

    def apply_chain_facts(self, *, chain_id: int, contract: str, from_block: int,
                          to_block: int, block_hash: str, chain_hash_at_cursor: str | None,
                          facts: list[ChainFact]) -> int:
        """One ingested block range: its facts and the advanced cursor, in one transaction.

        `chain_hash_at_cursor` is the chain's current hash of the cursor's last block; a
        mismatch is a reorg deeper than the confirmations: the cursor's `Halted` is recorded
        (once) and ReorgDetected raised.
        """
        cursor = self.get_cursor(chain_id, contract) or ChainCursor(
            chain_id=chain_id, contract=contract, from_block=from_block)
        try:
            cursor.check_no_reorg(chain_hash_at_cursor)
        except ReorgDetected as reorg:
            if cursor.halt(reorg, chain_hash_at_cursor):
                self._save(cursor)  # the halt alone: nothing of the range is recorded
            raise
        applier = FactApplier(self.get_distribution, self.get_batch, self.get_asset,
                              self.treasury_tx, self.vault_ops)
        for fact in facts:
            applier.apply(fact)
        for fact, reason in applier.unapplied:
            cursor.record_unreadable(
                block_number=getattr(fact, "block_number", to_block),
                tx_hash=getattr(fact, "tx_hash", ""), log_index=getattr(fact, "log_index", -1),
                address=getattr(fact, "address", contract), reason=redact(reason))
        range_start = cursor.last_block + 1
        cursor.advance(to_block, block_hash, len(facts))
        return self._save(cursor, *applier.finish(range_start, to_block))

    # --- audit runs ---

    def record_audit_run(self, run: AuditRun) -> int:
        """A finished `audit verify` run; AlreadyExists if that run (its id) is recorded."""
        return self._save(run)

    def get_audit_run(self, run_id: UUID) -> AuditRun:
        return self._get(run_id, AuditRun)


def _cancelled_with(transaction_id: str, leaves: list[int]) -> Callable[[PayoutBatch], None]:
    def change(batch: PayoutBatch) -> None:
        batch.record_airdrop_cancelled_with(transaction_id=transaction_id, leaf_indices=leaves)
    return change


def _claimed_with(leaves: list[int], indexed_until: float) -> Callable[[PayoutBatch], None]:
    def change(batch: PayoutBatch) -> None:
        batch.record_airdrop_claimed(leaf_indices=leaves, indexed_until=indexed_until)
    return change
