"""Four eyes are two people: maker-checker compares principals, not keys.

The domain's rule is checked pure first (including how actors recorded before principals
existed keep their meaning), then end to end through the API with keys of named principals.
"""

from __future__ import annotations

from uuid import uuid4

import pytest

from api.keys import Role, create_key
from domain.actors import key_actor, principal, same_principal
from domain.distribution import Distribution
from domain.errors import MakerCheckerViolation
from domain.terms import DistributionKind, DistributionTerms, Rule, RuleKind
from tests.api.conftest import auth
from tests.api.test_api import BODY, imported
from tests.domain.test_distribution_lifecycle import RECORD


def created_by(actor: str) -> Distribution:
    return Distribution.create(
        asset_id=uuid4(), idempotency_key="k",
        terms=DistributionTerms(DistributionKind.DIVIDEND, Rule(RuleKind.PRO_RATA, 100), RECORD),
        asset_decimals=18, payment_decimals=6, actor=actor)


def test_an_actor_names_its_principal_and_keeps_its_key():
    assert key_actor("alice", "k1") == "principal:alice/key:k1"
    assert principal("principal:alice/key:k1") == "alice"
    # Actors recorded before principals, and plain CLI names, are their own principal.
    assert principal("key:k1") == "key:k1" and principal("scheduler") == "scheduler"
    assert key_actor(None, "k1") == "key:k1"
    # A key without a principal, rotated, hands its identity on to its successor.
    assert same_principal("key:k1", key_actor("key:k1", "k2"))


@pytest.mark.parametrize(("maker", "checker", "allowed"), [
    ("principal:alice/key:k1", "principal:alice/key:k2", False),  # one person, two keys
    ("principal:alice/key:k1", "principal:alice/key:k1", False),
    ("principal:alice/key:k1", "principal:bob/key:k3", True),
    ("key:k1", "key:k2", True),  # keys from before principals: each its own
    ("key:k1", "key:k1", False),
])
def test_the_domain_compares_principals(maker, checker, allowed):
    d = created_by(maker)
    if allowed:
        d.approve(checker)
        assert d.approved_by == checker  # the key used stays recorded, for audit
    else:
        with pytest.raises(MakerCheckerViolation):
            d.approve(checker)


def test_recorded_approvals_replay_as_recorded():
    # An approval recorded under any earlier rule (here forced past the guard) replays
    # unchanged: guards run when deciding, never on replay.
    d = created_by("principal:alice/key:k1")
    d._approved(actor="principal:alice/key:k2")
    replayed = None
    for e in d.collect_events():
        replayed = e.mutate(replayed)
    assert replayed is not None and replayed.approved_by == "principal:alice/key:k2"


def test_one_principal_with_two_keys_cannot_create_and_approve(
        client, keys, chain, database_url, schema):
    # Alice holds an operator key and an approver key; Bob an approver key.
    alice_makes = create_key(database_url, schema, Role.OPERATOR, principal="alice")[1]
    alice_checks = create_key(database_url, schema, Role.APPROVER, principal="alice")[1]
    bob_checks = create_key(database_url, schema, Role.APPROVER, principal="bob")[1]
    asset = imported(client, keys, chain)
    made = client.post("/distributions", json={**BODY, "asset_id": asset["asset_id"]},
                       headers=auth(alice_makes, **{"Idempotency-Key": "p1"}))
    assert made.status_code == 201, made.text
    did = made.json()["distribution_id"]
    # Alice's second key is still Alice: refused by the four-eyes rule.
    refused = client.post(f"/distributions/{did}/approve", headers=auth(alice_checks))
    assert refused.status_code == 403
    assert refused.json()["type"] == "/problems/maker-checker"
    # Bob is another person: approved, and both the principal and the key are recorded.
    approved = client.post(f"/distributions/{did}/approve", headers=auth(bob_checks))
    assert approved.status_code == 200, approved.text
    seen = client.get(f"/distributions/{did}?wait_for_position={approved.json()['position']}",
                      headers=auth(keys["viewer"])).json()
    assert seen["created_by"] == f"principal:alice/key:{alice_makes.split('_')[1]}"
    assert seen["approved_by"] == f"principal:bob/key:{bob_checks.split('_')[1]}"
