"""Funds checks before paying. The worker reads the vault one block below the head (anvil holds
reads of the head while it mines), so a deposit in the newest block must still count; and a
vault's balance is shared, so a distribution counts only what earlier ones do not still owe."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest
from rq import Queue

from app.automation import Automation
from app.execution import commit_on_chain
from app.executor import BatchExecutor
from app.importing import snapshot_from_chain
from app.ingest import ingest_vaults
from app.jobs import QUEUE_NAME
from devtools.devnet import fund_vault, take_snapshot
from domain.distribution import Status
from domain.terms import DistributionKind, DistributionTerms, Rule, RuleKind, Withholding
from tests.execution.conftest import SMALL_BATCHES, Stack, prepare_distribution, start

pytestmark = pytest.mark.anvil


def test_a_deposit_in_the_newest_block_is_not_taken_for_a_shortfall(stack: Stack):
    # The vault is funded by the newest block: one block below, it held nothing.
    did = prepare_distribution(stack, holders=20)
    w3, vault, usd = stack.net.w3, stack.net.vault.address, stack.net.usd
    head = w3.eth.block_number
    assert usd.functions.balanceOf(vault).call(block_identifier=head - 1) == 0
    start(stack, did)
    executor = BatchExecutor(stack.ledger, stack.services.gateway, stack.services.signer,
                             SMALL_BATCHES)
    # The worker submits instead of waiting for funds that have arrived.
    batch = next(stack.ledger.batches(did))
    assert executor.execute(batch.id).action == "submitted"
    assert stack.ledger.get_distribution(did).status.value == "EXECUTING"


def second_dividend(stack: Stack, first: UUID) -> UUID:
    """Another dividend on the same asset, paid through the same vault, committed after
    `first`; nothing is deposited for it."""
    ledger, net = stack.ledger, stack.net
    asset_id = ledger.get_distribution(first).asset_id
    terms = DistributionTerms(kind=DistributionKind.DIVIDEND,
                              rule=Rule(RuleKind.PRO_RATA, 1_000 * 10**6),
                              record_date=datetime.now(UTC), withholding=Withholding(0))
    did = ledger.create_distribution(asset_id=asset_id, idempotency_key="second", terms=terms,
                                     actor="maker")
    ledger.approve_distribution(did, "checker")
    snapshot_from_chain(ledger, net.w3, did, snapshot_id=take_snapshot(net),
                        gas_model=SMALL_BATCHES)
    commit_on_chain(ledger, stack.services.gateway, stack.services.signer, did,
                    claim_deadline=datetime.now(UTC) + timedelta(days=30), actor="approver")
    return did


def test_a_later_distribution_cannot_spend_what_an_earlier_one_still_owes(stack: Stack):
    # The vault holds exactly the first dividend's net; a second one, committed later,
    # shares the vault and the payment token.
    first = prepare_distribution(stack, holders=20)
    second = second_dividend(stack, first)
    ledger, services = stack.ledger, stack.services
    executor = BatchExecutor(ledger, services.gateway, services.signer, SMALL_BATCHES)
    start(stack, second)
    outcome = executor.execute(next(ledger.batches(second)).id)
    assert outcome.action == "waiting-for-funds"
    assert "owed to distributions committed earlier" in outcome.detail
    waiting = ledger.get_distribution(second)
    assert waiting.status is Status.WAITING_FOR_FUNDS
    # The first is not held back by the second: its funds are its own.
    start(stack, first)
    assert executor.execute(next(ledger.batches(first)).id).action == "submitted"
    # Once a deposit covers the second too (and the first's payment is ingested: until then
    # the ledger counts it as still owed), the scheduler resumes it.
    ingest_vaults(services.ledger, services.gateway, confirmations=0)
    assert ledger.get_distribution(first).amount_paid > 0
    automation = Automation(ledger, services.gateway, services.signer,
                            Queue(QUEUE_NAME, connection=services.redis), SMALL_BATCHES)
    assert automation.advance(second, datetime.now(UTC)) is None  # still short
    assert waiting.totals is not None
    fund_vault(stack.net, waiting.totals.net)
    assert automation.advance(second, datetime.now(UTC)) == "resumed"
    assert ledger.get_distribution(second).status is Status.EXECUTING
