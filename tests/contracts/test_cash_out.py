"""Bond redemption at maturity over a frozen, committed list of holders."""

from __future__ import annotations

import pytest

from chain.contracts import call, role, send
from chain.errors import ContractRevertError
from chain.vault import Entitlement, announce_cash_out, cash_out, claim
from tests.contracts.helpers import DAY, Dist, addresses, balance, events, now

pytestmark = pytest.mark.evm

NOMINAL = 100_000_000  # 100.000000 stablecoin units per whole bond unit (bond has 2 decimals)


def _bond_with_holders(system, units):
    bond, admin = system.bond, system.admin
    for name in ("ISSUER", "CORPORATE_ACTION"):
        send(bond.functions.grantRole(role(name), admin), admin)
    send(bond.functions.grantRole(role("CONTROLLER"), system.vault.address), admin)
    holders = addresses("bondholder", len(units))
    for holder, amount in zip(holders, units, strict=True):
        send(bond.functions.issue(holder, amount), admin)
    return holders


def _frozen_list(system, snapshot_id):
    """What the service imports: the holders at the snapshot, paged, with their units."""
    bond = system.bond
    total = call(bond.functions.getTotalTokenHoldersAtSnapshot(snapshot_id))
    accounts = []
    for page in range((total + 1) // 2):
        accounts += call(bond.functions.getTokenHoldersAtSnapshot(snapshot_id, page, 2))
    return [Entitlement(i, a, call(bond.functions.balanceOfAtSnapshot(snapshot_id, a)))
            for i, a in enumerate(accounts)]


def test_cash_out_redeems_units_and_pays_principal_over_a_frozen_list(system):
    # Five bondholders; at maturity the issuer freezes the list with a snapshot.
    holders = _bond_with_holders(system, [150, 275, 1_000, 5, 333])
    snapshot_id = call(system.bond.functions.takeSnapshot(), system.admin)
    send(system.bond.functions.takeSnapshot(), system.admin)
    dist = Dist(system, _frozen_list(system, snapshot_id))
    assert sorted(e.account for e in dist.entries) == sorted(holders)
    principal = {e.account: e.amount * NOMINAL // 100 for e in dist.entries}
    # The approver commits the list: leaf amounts are units, principal comes from the rate.
    announce_cash_out(system.vault, system.approver, distribution_id=dist.id,
                      token=system.usd.address, asset=system.bond.address,
                      principal_per_unit=NOMINAL, root=dist.tree.root,
                      total_net=sum(principal.values()), leaf_count=len(dist.entries),
                      claim_deadline=now(system.w3) + 30 * DAY)
    # One holder is blocked by the stablecoin.
    blocked = dist.entries[3].account
    send(system.usd.functions.setBlocked(blocked, True), system.admin)
    # The first page is cashed out: those holders leave the live holder list.
    cash_out(system.vault, system.operator, dist.id, dist.batch(range(2)))
    assert call(system.bond.functions.getTotalSecurityHolders()) == 3
    # The second page is still the committed one, not a page of the shrunken live list.
    receipt = cash_out(system.vault, system.operator, dist.id, dist.batch(range(2, 5)))
    (failed,) = events(system.vault, receipt, "PaymentFailed")
    assert (failed["index"], failed["account"]) == (3, blocked)
    # Everyone but the blocked holder got principal and holds no units; it keeps both as before.
    for e in dist.entries:
        if e.account == blocked:
            assert balance(system, blocked) == 0
            assert call(system.bond.functions.balanceOf(blocked)) == e.amount
        else:
            assert balance(system, e.account) == principal[e.account]
            assert call(system.bond.functions.balanceOf(e.account)) == 0
    # Once unblocked, the holder claims: units redeemed and principal paid together.
    send(system.usd.functions.setBlocked(blocked, False), system.admin)
    claim(system.vault, system.outsider, dist.id, dist.entries[3], dist.proof(3))
    assert balance(system, blocked) == principal[blocked]
    assert call(system.bond.functions.totalSupply()) == 0
    assert call(system.vault.functions.paidAmount(dist.id)) == sum(principal.values())
    # Cashing out the whole list again redeems and pays nobody twice.
    receipt = cash_out(system.vault, system.operator, dist.id, dist.batch(range(5)))
    assert events(system.vault, receipt, "BatchSettled")[0]["skipped"] == 5


def test_cash_out_is_refused_on_a_payout_and_payBatch_on_a_cash_out(system):
    _bond_with_holders(system, [10])
    dist = Dist(system, [Entitlement(0, addresses("bondholder", 1)[0], 10)])
    announce_cash_out(system.vault, system.approver, distribution_id=dist.id,
                      token=system.usd.address, asset=system.bond.address,
                      principal_per_unit=NOMINAL, root=dist.tree.root, total_net=10 * NOMINAL,
                      leaf_count=1, claim_deadline=now(system.w3) + DAY)
    # payBatch on a cash-out distribution names the kind it found (2).
    with pytest.raises(ContractRevertError) as err:
        send(system.vault.functions.payBatch(*dist.batch([0]).args(dist.id)), system.operator)
    assert (err.value.name, err.value.values) == ("WrongKind", (dist.id, 2))
