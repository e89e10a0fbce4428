"""Every role guards its functions; a real UUPS upgrade keeps the storage."""

from __future__ import annotations

import pytest

from chain.contracts import at, call, deploy, role, send, upgrade_vault
from chain.errors import ContractRevertError
from tests.contracts.helpers import events, make_dist, now

pytestmark = pytest.mark.evm


def _gated_calls(system, dist):
    """(function, role it needs) for every role-gated entry point of the vault."""
    v = system.vault.functions
    usd, bond = system.usd.address, system.bond.address
    deadline = now(system.w3) + 10_000
    batch = dist.batch([0]).args(dist.id)
    return [
        (v.announce(b"\x01" * 32, usd, b"\x02" * 32, 1, 1, deadline), "APPROVER"),
        (v.announceCashOut(b"\x01" * 32, usd, bond, 1, b"\x02" * 32, 1, 1, deadline), "APPROVER"),
        (v.payBatch(*batch), "OPERATOR"),
        (v.cashOut(*batch), "OPERATOR"),
        (v.pause(), "PAUSER"),
        (v.unpause(), "PAUSER"),
        (v.reclaim(dist.id), "TREASURER"),
        (v.sweep(usd, 1), "TREASURER"),
        (v.sweepTo(usd, system.treasury, 1), "TREASURER"),
        (v.setSweepAccount(system.outsider, True), "DEFAULT_ADMIN"),
        (v.setTreasury(system.outsider), "DEFAULT_ADMIN"),
        (v.setTransferGas(50_000), "DEFAULT_ADMIN"),
        (v.grantRole(role("OPERATOR"), system.outsider), "DEFAULT_ADMIN"),
        (v.upgradeToAndCall(system.usd.address, b""), "UPGRADER"),
    ]


def test_every_gated_function_refuses_an_unauthorized_caller(system):
    # A distribution exists so that every call is otherwise well-formed.
    dist = make_dist(system, [1])
    dist.announce()
    # An outsider, and the operator for anything but operating, are refused with the role.
    for fn, needed in _gated_calls(system, dist):
        for caller in {system.outsider, system.operator} - (
                {system.operator} if needed == "OPERATOR" else set()):
            with pytest.raises(ContractRevertError) as err:
                send(fn, caller)
            assert (err.value.name, err.value.values) == (
                "AccessControlUnauthorizedAccount", (caller, role(needed))), fn.fn_name


def test_each_role_holder_can_do_its_job(system):
    # The admin changes the treasury and the transfer stipend.
    send(system.vault.functions.setTreasury(system.outsider), system.admin)
    send(system.vault.functions.setTransferGas(90_000), system.admin)
    assert call(system.vault.functions.treasury()) == system.outsider
    assert call(system.vault.functions.transferGas()) == 90_000
    # The pauser pauses and unpauses.
    send(system.vault.functions.pause(), system.pauser)
    assert call(system.vault.functions.paused())
    send(system.vault.functions.unpause(), system.pauser)
    # The admin can grant and revoke roles; a revoked operator is refused.
    send(system.vault.functions.revokeRole(role("OPERATOR"), system.operator), system.admin)
    dist = make_dist(system, [1])
    dist.announce()
    with pytest.raises(ContractRevertError) as err:
        dist.pay([0])
    assert err.value.name == "AccessControlUnauthorizedAccount"


def test_the_implementation_cannot_be_initialized_directly(system):
    # The logic contract behind the proxy has its initializers disabled.
    impl = deploy(system.w3, "PayoutVault", sender=system.admin)
    with pytest.raises(ContractRevertError) as err:
        send(impl.functions.initialize(system.outsider, system.outsider), system.outsider)
    assert err.value.name == "InvalidInitialization"
    # And the proxy cannot be initialized a second time.
    with pytest.raises(ContractRevertError) as err:
        send(system.vault.functions.initialize(system.outsider, system.outsider), system.outsider)
    assert err.value.name == "InvalidInitialization"


def test_a_real_upgrade_to_v2_keeps_the_storage(system):
    # A distribution half paid under V1.
    dist = make_dist(system, [10, 20, 30, 40])
    dist.announce()
    dist.pay_range(0, 2)
    before = call(system.vault.functions.distribution(dist.id))
    assert call(system.vault.functions.version()) == 1
    # The upgrader upgrades the proxy to V2.
    v2 = upgrade_vault(system.vault, sender=system.upgrader)
    # New behaviour is live at the same address...
    assert v2.address == system.vault.address
    assert call(v2.functions.version()) == 2
    assert call(v2.functions.greeting()) == "v2"
    # ...and the distribution, its bitmap, the roles and the treasury are intact.
    assert call(v2.functions.distribution(dist.id)) == before
    assert [call(v2.functions.isPaid(dist.id, i)) for i in range(4)] == [True, True, False, False]
    assert call(v2.functions.hasRole(role("OPERATOR"), system.operator))
    assert call(v2.functions.treasury()) == system.treasury
    # Paying continues where it stopped, and paid leaves stay paid.
    receipt = dist.pay_range(0, 4)
    (settled,) = events(v2, receipt, "BatchSettled")
    assert (settled["paid"], settled["skipped"]) == (2, 2)
    assert call(v2.functions.paidAmount(dist.id)) == 100


def test_an_upgrade_to_a_non_uups_contract_is_refused(system):
    # The stablecoin has no proxiableUUID: the upgrade is refused and V1 stays.
    with pytest.raises(ContractRevertError) as err:
        send(system.vault.functions.upgradeToAndCall(system.usd.address, b""), system.upgrader)
    assert (err.value.name, err.value.values) == ("ERC1967InvalidImplementation",
                                                  (system.usd.address,))
    assert call(at(system.w3, "PayoutVault", system.vault.address).functions.version()) == 1
