"""An upgrade's implementation deployment, as VaultOps records it: only for an approved
upgrade whose implementation is not deployed yet, settled only by a deployment it recorded,
and rejected (nothing deployed) when that deployment reverted. Pure domain: no store."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import pytest

from domain.errors import IllegalTransition
from domain.treasury import TreasuryState
from domain.vault_admin import VaultOps

NOW = datetime(2026, 7, 1, tzinfo=UTC)
DEPLOY, OTHER = "0x" + "d1" * 32, "0x" + "d2" * 32
IMPLEMENTATION = "0x" + "1c" * 20


def approved(action: str = "UPGRADE", **kw: str) -> tuple[VaultOps, int]:
    ops = VaultOps.open(uuid4(), "0x" + "ee" * 20)
    number = ops.request(action=action, role=kw.get("role"), account=kw.get("account"),
                         target="PayoutVaultV2" if action == "UPGRADE" else None,
                         reason="release", actor="principal:ann/key:a", now=NOW)
    ops.approve(number, "principal:bob/key:b")
    return ops, number


def test_the_deployment_is_recorded_then_settled_by_its_own_receipt_once():
    ops, n = approved()
    ops.record_deployment(n, tx_hash=DEPLOY.upper().replace("0X", "0x"), nonce=7,
                          signed_at=NOW)
    op = ops.op(n)
    assert (op.deploy_tx_hashes, op.deploy_nonces, op.deploy_signed_at) == ([DEPLOY], [7], NOW)
    # A transaction it did not record settles nothing
    with pytest.raises(IllegalTransition, match="no deployment"):
        ops.record_implementation(n, tx_hash=OTHER, address=IMPLEMENTATION)
    assert ops.record_implementation(n, tx_hash=DEPLOY, address=IMPLEMENTATION) is True
    assert op.implementation is not None and op.implementation.lower() == IMPLEMENTATION
    assert op.state is TreasuryState.APPROVED  # the upgrade itself is still to be sent
    # The same receipt read again (a second job) records nothing; deploying again is refused
    assert ops.record_implementation(n, tx_hash=DEPLOY, address=IMPLEMENTATION) is False
    with pytest.raises(IllegalTransition, match="deploys no implementation"):
        ops.record_deployment(n, tx_hash=OTHER, nonce=8, signed_at=NOW)
    # Replayed from its events, it is the same
    replayed = None
    for e in ops.collect_events():
        replayed = e.mutate(replayed)
    assert replayed is not None and replayed.op(n) == op


def test_only_an_approved_upgrade_deploys_and_a_reverted_deployment_rejects_it():
    pause, n = approved("PAUSE")
    with pytest.raises(IllegalTransition, match="deploys no implementation"):
        pause.record_deployment(n, tx_hash=DEPLOY, nonce=1, signed_at=NOW)
    asked = VaultOps.open(uuid4(), "0x" + "ee" * 20)
    m = asked.request(action="UPGRADE", role=None, account=None, target="PayoutVaultV2",
                      reason="release", actor="principal:ann/key:a", now=NOW)
    with pytest.raises(IllegalTransition, match="REQUESTED"):  # not approved yet
        asked.record_deployment(m, tx_hash=DEPLOY, nonce=1, signed_at=NOW)
    ops, n = approved()
    ops.record_deployment(n, tx_hash=DEPLOY, nonce=1, signed_at=NOW)
    ops.reject(n, tx_hash=DEPLOY, reason="the implementation's deployment reverted")
    assert ops.op(n).state is TreasuryState.REJECTED and ops.op(n).implementation is None
    assert ops.open_numbers == []
