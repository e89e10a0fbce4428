"""Sweeps and reclaims requested before sweeps had destinations still replay, go out, project
and reconcile.

The code before `TreasuryOpRequested` version 2 stored the request without `destination` and
`recipient`, and without a `class_version` in the state (eventsourcing writes one only above
1). Such stored events exist in every ledger older than sweep accounts; the upcast must read
them as sweeps to the vault's treasury. Here the ledger's mapper stores the requests exactly
that way (the encoded state is cut back before it is inserted, through the real PostgreSQL
recorder), and a fresh ledger carries them out on anvil: the treasurer sends `sweep` and
`reclaim`, the vault's logs settle them, the read models and the audit agree.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic
from psycopg import sql

from app.audit import events_table, recorder_of
from app.audit_verify import audit_distribution
from app.ingest import ingest_vaults
from app.treasury import TreasuryExecutor
from chain.contracts import call
from devtools.devchain import Anvil
from domain.distribution import Distribution
from domain.treasury import SweepDestination, TreasuryState
from projections.rebuild import rebuild
from projections.registry import PROJECTIONS
from tests.chain.test_treasury import _paid
from tests.projections.conftest import views  # noqa: F401  # fixture
from tests.projections.stories import select
from tests.projections.test_projections import catch_up_all

REQUESTED = get_topic(Distribution.TreasuryOpRequested)
ADDED_IN_V2 = ("class_version", "destination", "recipient")


@pytest.fixture
def paid(ledger, database_url):
    with Anvil(accounts=3) as w3:
        yield from _paid(ledger, database_url, w3)


@pytest.fixture
def stores_v1(ledger, monkeypatch):
    """While active, the ledger stores TreasuryOpRequested as the code before version 2 did."""
    mapper = ledger.mapper
    assert mapper.cipher is None and mapper.compressor is None  # the state is plain JSON
    current = mapper.to_stored_event

    def as_v1(event):
        stored = current(event)
        if stored.topic != REQUESTED:
            return stored
        state = mapper.transcoder.decode(stored.state)
        assert state["destination"] == SweepDestination.TREASURY  # all v1 could mean
        for key in ADDED_IN_V2:
            del state[key]
        return StoredEvent(originator_id=stored.originator_id,
                           originator_version=stored.originator_version, topic=stored.topic,
                           state=mapper.transcoder.encode(state))

    monkeypatch.setattr(mapper, "to_stored_event", as_v1)


def stored_requests(ledger, did):
    recorder = recorder_of(ledger)
    with recorder.datastore.transaction(commit=False) as cur:
        cur.execute(sql.SQL("SELECT state FROM {} WHERE originator_id = %s AND topic = %s"
                            " ORDER BY originator_version").format(events_table(ledger)),
                    (did, REQUESTED))
        return [json.loads(bytes(r["state"])) for r in cur.fetchall()]


def test_requests_stored_before_version_2_replay_as_sweeps_to_the_treasury(
        ledger, paid, reopen, views, database_url, schema, request):  # noqa: F811
    net, gateway, treasurer, did, deadline = paid
    d = ledger.get_distribution(did)
    beyond_net = d.totals.withheld + d.totals.dust + d.totals.skipped_amount
    treasury_before = int(call(net.usd.functions.balanceOf(net.treasury)))

    # The old code asks to sweep everything beyond the net, and (after the claim deadline,
    # the chain's clock too) to reclaim what is unpaid; another person approves both
    request.getfixturevalue("stores_v1")
    sweep, _ = ledger.request_sweep(did, actor="maker", amount=beyond_net, reason="dust",
                                    now=datetime.now(UTC))
    net.w3.provider.make_request("evm_setNextBlockTimestamp", [int(deadline.timestamp()) + 60])
    net.w3.provider.make_request("evm_mine", [])
    reclaim, _ = ledger.request_reclaim(did, actor="maker", reason="claims closed",
                                        now=deadline + timedelta(seconds=60))
    for number in (sweep, reclaim):
        ledger.approve_treasury_op(did, number, "checker")
    # What PostgreSQL holds is the version 1 shape: none of the fields version 2 added
    stored = stored_requests(ledger, did)
    assert [s["kind"] for s in stored] == ["SWEEP", "RECLAIM"]
    assert all(key not in s for s in stored for key in ADDED_IN_V2)

    # A fresh ledger (nothing cached) replays them as operations to the vault's treasury
    fresh = reopen()
    ops = fresh.get_distribution(did).treasury_ops
    assert [(op.kind, op.destination, op.recipient, op.state) for op in ops.values()] == [
        ("SWEEP", SweepDestination.TREASURY, None, TreasuryState.APPROVED),
        ("RECLAIM", SweepDestination.TREASURY, None, TreasuryState.APPROVED)]
    # The treasurer sends them (`sweep`, `reclaim`: nothing else would reach the treasury)
    executor = TreasuryExecutor(fresh, gateway, treasurer)
    assert [executor.execute(did, n).action for n in (sweep, reclaim)] == ["submitted"] * 2
    ingest_vaults(fresh, gateway, confirmations=0)
    d = reopen().get_distribution(did)
    unpaid = d.totals.net - d.amount_paid
    assert unpaid > 0 and (d.swept, d.reclaimed) == (beyond_net, unpaid)
    received = int(call(net.usd.functions.balanceOf(net.treasury))) - treasury_before
    assert received == beyond_net + unpaid

    # The read models say the same, and a rebuild from zero says it again
    catch_up_all(fresh, views)
    treasury = ("SELECT kind, state, destination, recipient, amount FROM {v}.treasury_ops"
                " WHERE distribution_id = %s ORDER BY number")
    expected = [("SWEEP", "DONE", "TREASURY", None, beyond_net),
                ("RECLAIM", "DONE", "TREASURY", None, unpaid)]
    assert [tuple(r.values()) for r in select(database_url, schema, treasury, did)] == expected
    rebuild(fresh, views, PROJECTIONS["treasury_ops"])
    assert [tuple(r.values()) for r in select(database_url, schema, treasury, did)] == expected
    (row,) = select(database_url, schema, "SELECT swept, reclaimed FROM {v}.distributions"
                    " WHERE distribution_id = %s", did)
    assert (row["swept"], row["reclaimed"]) == (beyond_net, unpaid)
    # The audit reconciles it with the vault: paid + reclaimed + swept == funded
    audit = audit_distribution(fresh, did, net.w3)
    assert audit.ok and audit.chain_checked, audit.differences
    assert audit.ledger_paid + audit.reclaimed + audit.swept == audit.funded == d.totals.gross

