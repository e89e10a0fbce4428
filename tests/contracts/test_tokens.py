"""The reference security token (ATS subset) and the test stablecoin."""

from __future__ import annotations

import pytest

from chain.contracts import call, role, send
from chain.errors import ContractRevertError
from tests.contracts.helpers import (
    DAY,
    YEAR,
    addresses,
    balance,
    coupon,
    deploy_named,
    dividend,
    events,
    now,
    travel,
)

pytestmark = pytest.mark.evm


def _grant(system, *names):
    for name in names:
        send(system.bond.functions.grantRole(role(name), system.admin), system.admin)


def test_security_token_facts(system):
    # The bond reports, as ATS does, its metadata and security type and its bond details.
    bond = system.bond
    assert call(bond.functions.decimals()) == 2
    assert call(bond.functions.getERC20Metadata()) == (("Acme Bond", "ACME", "", 2), 0)
    currency, nominal, nominal_decimals, start, maturity = call(bond.functions.getBondDetails())
    assert (currency, nominal, nominal_decimals) == (b"USD", 100_000_000, 6)
    assert start <= now(system.w3) < maturity
    # A bond has no equity details (and no dividends); the reverse holds for an equity.
    with pytest.raises(ContractRevertError) as err:
        call(bond.functions.getEquityDetails())
    assert (err.value.name, err.value.values) == ("WrongSecurityType", (0,))


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
    assert call(bond.functions.getTotalSecurityHolders()) == 3
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
    assert call(bond.functions.getSecurityHolders(0, 10)) == [d, b, c]
    assert call(bond.functions.getTotalSecurityHolders()) == 3
    # balancesOfAtSnapshot pages holders with their balances in one call.
    assert call(bond.functions.balancesOfAtSnapshot(1, 1, 2)) == [(c, 300)]
    # A snapshot that does not exist is refused with ATS's errors.
    with pytest.raises(ContractRevertError) as err:
        call(bond.functions.balanceOfAtSnapshot(3, a))
    assert (err.value.name, err.value.values) == ("SnapshotIdDoesNotExists", (3,))
    with pytest.raises(ContractRevertError) as err:
        call(bond.functions.totalSupplyAtSnapshot(0))
    assert err.value.name == "SnapshotIdNull"


def test_a_coupon_is_frozen_at_its_record_date_and_priced_as_ats_does(system):
    bond, admin = system.bond, system.admin
    _grant(system, "CORPORATE_ACTION", "ISSUER")
    a, b = addresses("cpn", 2)
    send(bond.functions.issue(a, 300), admin)
    record = now(system.w3) + DAY
    # A coupon of 1.25 % a year on the 100 USD nominal, over one year; ids start at 1.
    send(bond.functions.setCoupon(coupon(record, record + DAY, 125)), admin)
    assert call(bond.functions.getCouponCount()) == 1
    registered = ((coupon(record, record + DAY, 125), 0), False)
    assert tuple(call(bond.functions.getCoupon(1))) == registered
    # A record date in the past, and a dividend on a bond, are refused.
    with pytest.raises(ContractRevertError) as err:
        send(bond.functions.setCoupon(coupon(record - 2 * DAY, record, 125)), admin)
    assert err.value.name == "WrongDates"
    with pytest.raises(ContractRevertError) as err:
        send(bond.functions.setDividend(dividend(record, record, 1)), admin)
    assert err.value.name == "WrongSecurityType"
    # Before the record date: no holders, no amount, and the trigger takes nothing.
    assert call(bond.functions.getTotalCouponHolders(1)) == 0
    assert call(bond.functions.getCouponAmountFor(1, a)) == (0, 0, False)
    send(bond.functions.triggerPendingScheduledCrossOrderedTasks(), system.outsider)
    assert call(bond.functions.getCoupon(1))[0][1] == 0
    # After it, the first balance change takes the coupon's snapshot before it moves anything.
    travel(system.w3, 2 * DAY)
    receipt = send(bond.functions.issue(b, 700), admin)
    assert [e["snapshotID"] for e in events(bond, receipt, "SnapshotTaken")] == [1]
    assert call(bond.functions.getCoupon(1))[0][1] == 1
    assert call(bond.functions.getCouponHolders(1, 0, 10)) == [a]
    # a's amount: balance x nominal x rate x period / (10^(2 + 6 + 4) x 365 days) = 3.75 USD.
    numerator, denominator, reached = call(bond.functions.getCouponAmountFor(1, a))
    assert reached and (numerator, denominator) == (300 * 100_000_000 * 125 * YEAR, 10**12 * YEAR)
    assert call(bond.functions.getCouponFor(1, b))[0] == 0  # b came after the record date


def test_a_dividend_snapshot_is_taken_by_anyone_once_due(system):
    admin = system.admin
    equity = deploy_named(system, "SecurityToken", "Acme Equity", "AEQ", 0, 1, 0, 0, 0, admin)
    for name in ("CORPORATE_ACTION", "ISSUER"):
        send(equity.functions.grantRole(role(name), admin), admin)
    holder = addresses("div", 1)[0]
    send(equity.functions.issue(holder, 40), admin)
    record = now(system.w3) + DAY
    # Two dividends, set out of record-date order, of 0.5 and 0.25 USD per share.
    send(equity.functions.setDividend(dividend(record + DAY, record + 2 * DAY, 25, 2)), admin)
    send(equity.functions.setDividend(dividend(record, record + DAY, 5, 1)), admin)
    assert call(equity.functions.getDividendsCount()) == 2
    # Once the first record date passes, anyone triggers its snapshot: only the due one.
    travel(system.w3, DAY + 1)
    send(equity.functions.triggerPendingScheduledCrossOrderedTasks(), system.outsider)
    assert [call(equity.functions.getDividend(i))[0][1] for i in (1, 2)] == [0, 1]
    assert call(equity.functions.getDividendAmountFor(2, holder)) == (40 * 5, 10, True)
    assert call(equity.functions.getDividendFor(2, holder))[0] == 40
    # The second one, with no balance change since its record date, reads the balances now.
    travel(system.w3, DAY)
    assert call(equity.functions.getDividendHolders(1, 0, 5)) == [holder]
    assert call(equity.functions.getTotalDividendHolders(1)) == 1
    with pytest.raises(ContractRevertError) as err:
        call(equity.functions.getDividend(3))
    assert (err.value.name, err.value.values) == ("WrongIndexForAction", (3,))


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
