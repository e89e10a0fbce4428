"""The HTS rail's pure rules: batch planning by the two network limits, the exactly-once
verdict on a recorded TransactionId, and response codes sorted into failure classes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import InvalidInput
from domain.failures import FailureClass
from domain.hts_failures import classify_status, wants_airdrop
from domain.hts_links import BARRED, TokenLink, next_transaction
from domain.hts_planning import HtsLeg, HtsLimits, estimate_bytes, plan_hts_batches
from domain.hts_recovery import Fate, TxWindow, Verdict, decide

PAYER = (0, 0, 1001)


def _legs(count: int, amount: int = 5) -> list[HtsLeg]:
    return [HtsLeg(i, (0, 0, 2000 + i), amount) for i in range(count)]


def test_batches_hold_nine_recipients_in_order_and_every_leg_exactly_once():
    plans = list(plan_hts_batches(PAYER, _legs(20)))
    assert [len(p.legs) for p in plans] == [9, 9, 2]
    assert [leg.leaf_index for p in plans for leg in p.legs] == list(range(20))
    assert [p.number for p in plans] == [0, 1, 2]


def test_the_byte_limit_cuts_batches_when_signatures_and_a_memo_grow_the_envelope():
    # a multi-key custodian account: 55 signatures leave room for few legs in 6,144 bytes
    limits = HtsLimits(signatures=55, memo_bytes=100)
    plans = list(plan_hts_batches(PAYER, _legs(9, amount=2**60), limits))
    assert len(plans) > 1
    assert all(p.estimated_bytes <= 6_144 for p in plans)
    assert sum(len(p.legs) for p in plans) == 9
    # one that cannot fit even alone is refused, not planned into a doomed transaction
    with pytest.raises(InvalidInput, match="does not fit"):
        list(plan_hts_batches(PAYER, _legs(1), HtsLimits(signatures=60)))


def test_a_repeated_account_starts_a_new_batch_and_the_payer_cannot_be_paid():
    legs = [HtsLeg(0, (0, 0, 7), 1), HtsLeg(1, (0, 0, 8), 1), HtsLeg(2, (0, 0, 7), 1)]
    assert [len(p.legs) for p in plan_hts_batches(PAYER, legs)] == [2, 1]
    with pytest.raises(InvalidInput, match="cannot pay itself"):
        list(plan_hts_batches(PAYER, [HtsLeg(0, PAYER, 1)]))
    with pytest.raises(InvalidInput):
        HtsLeg(0, (0, 0, 7), 0)


def test_bigger_amounts_and_account_numbers_cost_bytes():
    small = estimate_bytes(PAYER, [HtsLeg(0, (0, 0, 7), 1)], HtsLimits())
    big = estimate_bytes(PAYER, [HtsLeg(0, (0, 0, 2**40), 2**62)], HtsLimits())
    assert big > small


WINDOW = TxWindow(valid_start_ns=1_000 * 10**9, valid_seconds=120)  # closes at 1,120 s


@pytest.mark.parametrize(("now", "receipt", "history", "indexed", "fate"), [
    # a final status from either source settles it, whatever the clock says
    (1_010, "SUCCESS", None, None, Fate(Verdict.SETTLED, "SUCCESS")),
    (5_000, None, "ACCOUNT_FROZEN_FOR_TOKEN", 5_000,
     Fate(Verdict.SETTLED, "ACCOUNT_FROZEN_FOR_TOKEN")),
    # not final yet (no consensus), or no answer while the window is open: wait
    (1_010, "UNKNOWN", None, 1_010, Fate(Verdict.IN_FLIGHT)),
    (1_125, None, None, 1_125, Fate(Verdict.IN_FLIGHT)),       # inside the skew margin
    (2_000, None, None, 1_100, Fate(Verdict.IN_FLIGHT)),       # Mirror Node lags the window
    (2_000, None, None, None, Fate(Verdict.IN_FLIGHT)),        # Mirror Node horizon unknown
    # closed, the Mirror Node indexed past it, no record: it never executed
    (2_000, None, None, 1_131, Fate(Verdict.DEAD)),
])
def test_a_transaction_id_is_dead_only_when_proven(now, receipt, history, indexed, fate):
    assert decide(WINDOW, now=now, receipt_status=receipt, history_status=history,
                  history_indexed_until=indexed) == fate


def test_a_validity_window_is_at_most_180_seconds():
    with pytest.raises(InvalidInput):
        TxWindow(valid_start_ns=1, valid_seconds=181)


@pytest.mark.parametrize(("status", "klass"), [
    ("SUCCESS", None),
    ("BUSY", FailureClass.TRANSIENT), ("PLATFORM_NOT_ACTIVE", FailureClass.TRANSIENT),
    ("TOKEN_NOT_ASSOCIATED_TO_ACCOUNT", FailureClass.HOLDER),
    ("ACCOUNT_FROZEN_FOR_TOKEN", FailureClass.HOLDER),
    ("ACCOUNT_KYC_NOT_GRANTED_FOR_TOKEN", FailureClass.HOLDER),
    ("ACCOUNT_DELETED", FailureClass.HOLDER),
    ("INSUFFICIENT_TOKEN_BALANCE", FailureClass.DISTRIBUTION),
    ("INSUFFICIENT_PAYER_BALANCE", FailureClass.DISTRIBUTION),
    ("SOMETHING_NEW_IN_A_LATER_RELEASE", FailureClass.HOLDER),
])
def test_response_codes_fall_into_the_three_failure_classes(status, klass):
    assert classify_status(status) is klass
    assert wants_airdrop(status) == (status == "TOKEN_NOT_ASSOCIATED_TO_ACCOUNT")


def test_a_commitment_is_canonical_bytes_and_refuses_a_malformed_root():
    from uuid import UUID

    from domain.hts_commitment import commitment_message
    args = {"distribution_id": UUID(int=1), "token": "0.0.1003", "total_net": 5,
            "leaf_count": 2}
    first = commitment_message(merkle_root="0x" + "AB" * 32, **args)
    assert first == commitment_message(merkle_root="0x" + "ab" * 32, **args)
    assert first.startswith(b'{"distribution":"00000000-0000-0000-0000-000000000001"')
    with pytest.raises(InvalidInput):
        commitment_message(merkle_root="0x1234", **args)


def _links_legs(count: int) -> list[HtsLeg]:
    return [HtsLeg(i, (0, 0, 2_000 + i), 100 + i) for i in range(count)]


def test_the_next_transaction_sends_a_barred_holder_alone_then_airdrops_the_rest():
    legs = _links_legs(5)
    links = {legs[1].account: TokenLink.NOT_ASSOCIATED, legs[2].account: TokenLink.FROZEN,
             legs[3].account: TokenLink.NOT_ASSOCIATED, legs[4].account: TokenLink.KYC_REVOKED}
    assert next_transaction(legs, links) == ("transfer", [legs[2]])
    rest = [legs[0], legs[1], legs[3], legs[4]]
    assert next_transaction(rest, links) == ("transfer", [legs[4]])
    assert next_transaction([legs[4]], links) == ("transfer", [legs[4]])  # alone already
    # one airdrop for the rest: it credits the associated holder at once
    assert next_transaction(legs[:2] + legs[3:4], links) == ("airdrop", [legs[0], legs[1],
                                                                          legs[3]])
    assert next_transaction([legs[1]], links) == ("airdrop", [legs[1]])
    # what the Mirror Node did not say is paid as planned, all together
    assert next_transaction(legs, {}) == ("transfer", legs)
    assert next_transaction(legs, dict.fromkeys((leg.account for leg in legs),
                                                TokenLink.UNKNOWN)) == ("transfer", legs)


@given(st.lists(st.sampled_from(list(TokenLink)), min_size=1, max_size=9))
def test_grouping_by_links_sends_every_leg_exactly_once_in_leaf_order(kinds):
    legs = _links_legs(len(kinds))
    links = {leg.account: kind for leg, kind in zip(legs, kinds, strict=True)}
    sent: list[HtsLeg] = []
    remaining = list(legs)
    transactions = 0
    while remaining:
        kind, group = next_transaction(remaining, links)
        transactions += 1
        assert group and group == [leg for leg in remaining if leg in group]
        # an airdrop only where someone is unassociated; a barred holder never shares
        assert (kind == "airdrop") == any(links[leg.account] is TokenLink.NOT_ASSOCIATED
                                          for leg in group)
        assert len(group) == 1 or not any(links[leg.account] in BARRED for leg in group)
        sent += group
        remaining = [leg for leg in remaining if leg not in group]
    assert sorted(sent, key=lambda leg: leg.leaf_index) == legs
    # one transaction per barred holder, and one for everyone else
    barred = sum(kind in BARRED for kind in kinds)
    assert transactions == barred + (len(kinds) > barred)
