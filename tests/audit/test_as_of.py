"""`audit as-of`: a distribution as it stood at a past position or time, from its events."""

from __future__ import annotations

import pytest

from app.audit import history
from app.audit_asof import distribution_as_of, position_at
from devtools import payout_story as story
from domain.distribution import Status
from domain.errors import InvalidInput, NotFound
from domain.planning import GasModel

SMALL = GasModel(per_leaf=1_000_000, budget=12_000_000)  # 11 leaves per batch


def test_a_distribution_as_it_stood_before_and_after_its_payments(ledger):
    asset = story.import_asset(ledger)
    did = story.snapshotted(ledger, asset, 30, gas_model=SMALL)
    snapshotted_at = ledger.recorder.max_notification_id()
    story.execute(ledger, did, fail_every=7, retry=False)
    # At the snapshot's position: snapshotted, every eligible holder pending, nothing paid
    then = distribution_as_of(ledger, did, position=snapshotted_at)
    assert then.distribution.status is Status.SNAPSHOTTED
    assert then.paid_amount == 0
    assert set(then.holders) <= {"PENDING", "SKIPPED"}
    assert sum(then.holders.values()) == 30
    # Now: finished, some paid, the blocked ones failed
    now = distribution_as_of(ledger, did, position=ledger.recorder.max_notification_id())
    assert now.distribution.status is Status.COMPLETED_WITH_FAILURES
    assert now.holders["FAILED"] > 0 and now.holders["PAID"] > 0
    assert now.paid_amount == now.distribution.amount_paid
    # Before it was created it does not exist
    created = history(ledger, did)[0]
    with pytest.raises(NotFound):
        distribution_as_of(ledger, did, position=created.position - 1)
    # As of a time: the time of the Approved event is that event's position
    approved = history(ledger, did)[1]
    assert position_at(ledger, approved.time) == approved.position
    assert distribution_as_of(ledger, did, at=approved.time).distribution.status \
        is Status.APPROVED


def test_exactly_one_of_position_or_time(ledger):
    asset = story.import_asset(ledger)
    did = story.snapshotted(ledger, asset, 3)
    with pytest.raises(InvalidInput):
        distribution_as_of(ledger, did)
    with pytest.raises(InvalidInput):  # not recorded yet: never today's state passed as then
        distribution_as_of(ledger, did, position=ledger.recorder.max_notification_id() + 1)
