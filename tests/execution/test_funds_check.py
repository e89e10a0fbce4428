"""The worker reads the vault one block below the head (anvil holds reads of the head while it
mines); a deposit in the newest block must still count."""

from __future__ import annotations

import pytest

from chain.executor import BatchExecutor
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
