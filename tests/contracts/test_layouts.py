"""The upgrade check on the committed storage layouts (contracts/build.py writes them, and
its --check keeps them current): V2 keeps V1's layout; any change to an existing member of a
namespaced struct, or of a struct it reaches, is refused by the member's name."""

from __future__ import annotations

import copy

import pytest

from app.vault_ops import VaultOpRefused, check_upgrade, incompatibility, layout_of

VAULT = "erc7201:masspayout.storage.PayoutVault"


@pytest.fixture(scope="module")
def v1():
    return layout_of("PayoutVault")


def members(layout, namespace=VAULT):
    return layout["namespaces"][namespace]["members"]


def test_the_layouts_cover_the_vaults_namespaces_and_v2_keeps_v1(v1):
    assert [m["label"] for m in members(v1)][:5] == [
        "distributions", "paidWords", "outstanding", "treasury", "transferGas"]
    assert "erc7201:openzeppelin.storage.AccessControl" in v1["namespaces"]
    assert "struct PayoutVault.Distribution" in v1["structs"]
    check_upgrade("PayoutVault", "PayoutVaultV2")  # no error


def test_appending_a_member_keeps_the_layout(v1):
    new = copy.deepcopy(v1)
    members(new).append({"label": "fee", "slot": 4, "offset": 0, "type": "uint256"})
    new["structs"]["struct PayoutVault.Distribution"].append(
        {"label": "memo", "slot": 9, "offset": 0, "type": "bytes32"})
    assert incompatibility(v1, new) is None


@pytest.mark.parametrize(("change", "named"), [
    (lambda lay: members(lay).reverse(), "PayoutVault.VaultStorage.distributions"),
    (lambda lay: members(lay).pop(2), "PayoutVault.VaultStorage.outstanding"),
    (lambda lay: members(lay)[4].update(offset=0, slot=4), "PayoutVault.VaultStorage.transferGas"),
    (lambda lay: members(lay)[3].update(type="uint160"), "PayoutVault.VaultStorage.treasury"),
    (lambda lay: lay["structs"]["struct PayoutVault.Distribution"][6].update(type="uint256"),
     "PayoutVault.Distribution.totalNet"),
    (lambda lay: lay["namespaces"].pop("erc7201:openzeppelin.storage.Pausable"),
     "openzeppelin.storage.Pausable"),
])
def test_a_changed_existing_member_is_refused_by_name(v1, change, named):
    new = copy.deepcopy(v1)
    change(new)
    why = incompatibility(v1, new)
    assert why is not None and named in why, why


def test_a_target_without_a_layout_is_refused():
    with pytest.raises(VaultOpRefused, match="no storage layout for Nowhere"):
        check_upgrade("PayoutVault", "Nowhere")


def nested(v1):
    """V1 as if a distribution held a mapping to arrays of fees, each fee holding a payee
    struct by value: three structs deep below the namespace."""
    old = copy.deepcopy(v1)
    old["structs"]["struct PayoutVault.Distribution"].append(
        {"label": "fees", "slot": 9, "offset": 0,
         "type": "mapping(address => struct PayoutVault.Fee[])"})
    old["structs"]["struct PayoutVault.Fee"] = [
        {"label": "amount", "slot": 0, "offset": 0, "type": "uint128"},
        {"label": "payee", "slot": 1, "offset": 0, "type": "struct PayoutVault.Payee"}]
    old["structs"]["struct PayoutVault.Payee"] = [
        {"label": "account", "slot": 0, "offset": 0, "type": "address"},
        {"label": "bps", "slot": 0, "offset": 20, "type": "uint16"}]
    return old


@pytest.mark.parametrize(("change", "named"), [
    (lambda s: s["struct PayoutVault.Fee"][0].update(type="uint256"), "PayoutVault.Fee.amount"),
    (lambda s: s["struct PayoutVault.Payee"][1].update(offset=0, slot=1),
     "PayoutVault.Payee.bps"),
    (lambda s: s.pop("struct PayoutVault.Payee"), "struct PayoutVault.Payee"),
])
def test_a_change_deep_inside_a_struct_reached_through_mappings_and_arrays_is_refused(
        v1, change, named):
    # A layout whose namespace reaches structs three deep keeps itself
    old = nested(v1)
    assert incompatibility(old, copy.deepcopy(old)) is None
    # A change to the deepest struct's members (or the struct gone) is refused by its name
    new = copy.deepcopy(old)
    change(new["structs"])
    why = incompatibility(old, new)
    assert why is not None and named in why, why
