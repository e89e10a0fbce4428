"""One payout on anvil, ingested twice: through JSON-RPC into one ledger and through the
Mirror Node STAND-IN (the Hedera network is unreachable here; devtools.mirror_standin serves
the Mirror Node's REST format from the same anvil chain) into a copy of it.

What must be equal: every event ingestion records (aggregate, version, kind and attributes:
chain facts, batch outcomes, the cursor's blocks and hashes) and every read model built from
the two logs. What may differ: only when each event was recorded.
"""

from __future__ import annotations

import pytest

from app.executor import BatchExecutor
from app.ingest import ingest_vaults
from chain.hedera.mirror_client import MirrorNodeClient
from chain.hedera.mirror_logs import MirrorNodeLogSource
from devtools.mirror_standin import MirrorStandin
from domain.distribution import Status
from tests.execution.conftest import SMALL_BATCHES, prepare_distribution, stack, start  # noqa: F401
from tests.hedera.conftest import copy_log, events_after, read_models

pytestmark = pytest.mark.anvil


def test_json_rpc_and_the_mirror_node_ingest_the_same_payout(stack, second_ledger,  # noqa: F811
                                                            database_url, schema):
    # A dividend to 130 holders, two of them blocked by the stablecoin: the shares were issued
    # in one transaction of 130 Transfer logs (two Mirror Node pages of 100), and the batches
    # emit Paid, PaymentFailed and BatchSettled logs.
    did = prepare_distribution(stack, holders=130, blocked=[3, 77])
    start(stack, did)
    services = stack.services
    executor = BatchExecutor(stack.ledger, services.gateway, services.signer, SMALL_BATCHES)
    for batch in list(stack.ledger.batches(did)):
        assert executor.execute(batch.id).action == "submitted"
    # The second ledger starts as a copy of the first, up to here.
    mirrored, mirrored_schema = second_ledger
    position = copy_log(stack.ledger, mirrored)
    # One ingests from the node over JSON-RPC, the other from the Mirror Node.
    ingest_vaults(stack.ledger, services.gateway, confirmations=0)
    with MirrorStandin(stack.net.w3) as standin:
        client = MirrorNodeClient(standin.url)
        ingest_vaults(mirrored, services.gateway, confirmations=0,
                      source=MirrorNodeLogSource(client))
        client.close()
    # Paging really happened: a links.next page of the token's logs was asked for.
    assert any("index=gt" in r for r in standin.requests)
    # Both paid the distribution to its end, event for event.
    rpc_events = events_after(stack.ledger, position)
    assert rpc_events and events_after(mirrored, position) == rpc_events
    for ledger in (stack.ledger, mirrored):
        assert ledger.get_distribution(did).status is Status.COMPLETED_WITH_FAILURES
    # And every read model built from either log is the same, row for row.
    assert read_models(mirrored, database_url, mirrored_schema) == \
        read_models(stack.ledger, database_url, schema)
