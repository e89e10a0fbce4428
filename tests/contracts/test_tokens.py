"""The reference security token (ATS subset) and the test stablecoin."""

from __future__ import annotations

import pytest

from chain.contracts import call, role, send
from chain.errors import ContractRevertError
from tests.contracts.helpers import DAY, addresses, balance, events, now, travel

pytestmark = pytest.mark.evm


def _grant(system, *names):
    for name in names:
        send(system.bond.functions.grantRole(role(name), system.admin), system.admin)


def test_security_token_facts(system):
    # The bond reports its decimals, kind, maturity and nominal value.
    bond = system.bond
    assert call(bond.functions.decimals()) == 2
    assert call(bond.functions.kind()) == 1
    assert call(bond.functions.maturityDate()) > now(system.w3)
    assert call(bond.functions.nominalValue()) == 100_000_000


def test_issue_batch_mints_to_many_and_refuses_mismatched_lists(system):
    bond, admin = system.bond, system.admin
    holders = addresses("batch", 3)
    # Without the issuer role: refused.
    with pytest.raises(ContractRevertError) as refused:
        send(bond.functions.issueBatch(holders, [1, 2, 3]), admin)
    assert refused.value.name == "AccessControlUnauthorizedAccount"
    _grant(system, "ISSUER")
    send(bond.functions.issueBatch(holders, [1, 2, 3]), admin)
    assert [call(bond.functions.balanceOf(h)) for h in holders] == [1, 2, 3]
    assert call(bond.functions.getTotalTokenHolders()) == 3
    with pytest.raises(ContractRevertError) as mismatch:
        send(bond.functions.issueBatch(holders, [1, 2]), admin)
    assert (mismatch.value.name, mismatch.value.values) == ("LengthMismatch", (3, 2))


def test_snapshots_freeze_balances_and_holders_while_live_holders_move(system):
    bond, admin = system.bond, system.admin
    _grant(system, "ISSUER", "CORPORATE_ACTION")
    a, b, c, d = addresses("sec", 4)
    # a, b and c hold; snapshot 1 is taken.
    for holder, amount in ((a, 100), (b, 200), (c, 300)):
        send(bond.functions.issue(holder, amount), admin)
    send(bond.functions.takeSnapshot(), admin)
    # Then a leaves entirely (its slot is refilled by the last holder) and d arrives.
    send(bond.functions.issue(d, 50), admin)
    send(bond.functions.grantRole(role("CONTROLLER"), admin), admin)
    send(bond.functions.controllerRedeem(a, 100, b"", b""), admin)
    send(bond.functions.takeSnapshot(), admin)
    # Snapshot 1 still shows a, b, c with their balances, paged two at a time.
    assert call(bond.functions.getTotalTokenHoldersAtSnapshot(1)) == 3
    pages = [call(bond.functions.getTokenHoldersAtSnapshot(1, p, 2)) for p in range(3)]
    assert pages[0] + pages[1] == [a, b, c]
    assert pages[2] == []
    assert [call(bond.functions.balanceOfAtSnapshot(1, h)) for h in (a, b, c, d)] == [
        100, 200, 300, 0]
    assert call(bond.functions.totalSupplyAtSnapshot(1)) == 600
    # Snapshot 2 and the live list show d in a's former place and no a.
    assert call(bond.functions.getTokenHoldersAtSnapshot(2, 0, 10)) == [d, b, c]
    assert call(bond.functions.getTokenHolders(0, 10)) == [d, b, c]
    assert call(bond.functions.getTotalTokenHolders()) == 3
    # A snapshot that does not exist is refused.
    with pytest.raises(ContractRevertError) as err:
        call(bond.functions.balanceOfAtSnapshot(3, a))
    assert (err.value.name, err.value.values) == ("UnknownSnapshot", (3,))


def test_corporate_actions_record_their_terms_and_snapshot(system):
    bond, admin = system.bond, system.admin
    _grant(system, "CORPORATE_ACTION")
    record = now(system.w3) + DAY
    # A dividend and a coupon are set with record date, execution date and amount per unit.
    send(bond.functions.setDividend(record, record + DAY, 1_500), admin)
    send(bond.functions.setCoupon(record, record + 2 * DAY, 2_500), admin)
    assert call(bond.functions.getCorporateActionCount()) == 2
    assert call(bond.functions.getCorporateAction(1)) == (1, record, record + 2 * DAY, 2_500, 0)
    # Before the record date the holders cannot be frozen.
    with pytest.raises(ContractRevertError) as err:
        send(bond.functions.takeActionSnapshot(0), system.outsider)
    assert (err.value.name, err.value.values) == ("RecordDateNotReached", (0, record))
    # After it anyone can freeze them, once.
    travel(system.w3, 2 * DAY)
    receipt = send(bond.functions.takeActionSnapshot(0), system.outsider)
    assert events(bond, receipt, "SnapshotTaken")[0]["snapshotId"] == 1
    assert call(bond.functions.getCorporateAction(0))[4] == 1
    with pytest.raises(ContractRevertError) as err:
        send(bond.functions.takeActionSnapshot(0), system.outsider)
    assert (err.value.name, err.value.values) == ("SnapshotAlreadyTaken", (0, 1))


def test_only_a_controller_redeems(system):
    _grant(system, "ISSUER")
    holder = addresses("sec", 1)[0]
    send(system.bond.functions.issue(holder, 10), system.admin)
    with pytest.raises(ContractRevertError) as err:
        send(system.bond.functions.controllerRedeem(holder, 10, b"", b""), system.outsider)
    assert (err.value.name, err.value.values) == (
        "AccessControlUnauthorizedAccount", (system.outsider, role("CONTROLLER")))


def test_stablecoin_has_six_decimals_owner_mint_and_a_blocklist(system):
    usd, admin = system.usd, system.admin
    holder, other = addresses("usd", 2)
    assert call(usd.functions.decimals()) == 6
    # Only the owner mints.
    with pytest.raises(ContractRevertError) as err:
        send(usd.functions.mint(holder, 1), system.outsider)
    assert (err.value.name, err.value.values) == ("NotOwner", (system.outsider,))
    send(usd.functions.mint(system.outsider, 500), admin)
    # A blocked recipient cannot receive, and the flag does not show in its balance.
    send(usd.functions.mint(holder, 7), admin)
    send(usd.functions.setBlocked(holder, True), admin)
    assert call(usd.functions.isBlocked(holder))
    assert balance(system, holder) == 7
    with pytest.raises(ContractRevertError) as err:
        send(usd.functions.transfer(holder, 1), system.outsider)
    assert (err.value.name, err.value.values) == ("AccountBlocked", (holder,))
    # Unblocked, transfers work again.
    send(usd.functions.setBlocked(holder, False), admin)
    send(usd.functions.transfer(holder, 1), system.outsider)
    send(usd.functions.transfer(other, 2), system.outsider)
    assert (balance(system, holder), balance(system, other)) == (8, 2)
