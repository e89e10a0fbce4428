"""The sweep_accounts read model: each asset's configured accounts with who set each, when and
why, built one event at a time and rebuilt from zero to the same rows."""

from __future__ import annotations

from devtools import payout_story as story
from projections.rebuild import rebuild
from projections.registry import PROJECTIONS
from tests.projections.stories import select
from tests.projections.test_projections import catch_up_all

TAX, DUST, OTHER_DUST = "0x" + "7a" * 20, "0x" + "d0" * 20, "0x" + "d1" * 20
ROWS = ("SELECT asset_id, destination, account, set_by, set_at, reason, position"
        " FROM {v}.sweep_accounts ORDER BY asset_id, destination")


def test_each_account_keeps_who_set_it_and_a_rebuild_gives_the_same_rows(
        ledger, views, database_url, schema):
    bond = story.import_asset(ledger, token="0x" + "b1" * 20)
    other = story.import_asset(ledger, token="0x" + "b2" * 20)
    # Ann sets both of the bond's accounts; the other asset gets a dust account only
    first = ledger.set_sweep_accounts(bond, tax_authority=TAX, dust=DUST, actor="ann",
                                      reason="tax office and dust")
    ledger.set_sweep_accounts(other, tax_authority=None, dust=DUST, actor="ann", reason="dust")
    # Bob changes the bond's dust account: the tax authority is still Ann's, as she set it
    changed = ledger.set_sweep_accounts(bond, tax_authority=TAX, dust=OTHER_DUST, actor="bob",
                                        reason="new dust account")
    catch_up_all(ledger, views, max_events=1, page=1)  # one event per transaction
    rows = select(database_url, schema, ROWS)
    by = {(r["asset_id"], r["destination"]): r for r in rows}
    tax = by[(bond, "TAX_AUTHORITY")]
    assert (tax["account"], tax["set_by"], tax["reason"], tax["position"]) == (
        ledger.get_asset(bond).sweep_accounts["TAX_AUTHORITY"], "ann", "tax office and dust",
        first)
    dust = by[(bond, "DUST")]
    assert (dust["account"].lower(), dust["set_by"], dust["position"]) == (
        OTHER_DUST, "bob", changed)
    assert dust["set_at"] > tax["set_at"]
    assert (other, "TAX_AUTHORITY") not in by and by[(other, "DUST")]["set_by"] == "ann"
    # Clearing one removes its row and leaves the other
    ledger.set_sweep_accounts(bond, tax_authority=None, dust=OTHER_DUST, actor="carol",
                              reason="no tax sweeps")
    catch_up_all(ledger, views)
    rows = select(database_url, schema, ROWS)
    assert [(r["asset_id"], r["destination"], r["set_by"]) for r in rows
            if r["asset_id"] == bond] == [(bond, "DUST", "bob")]
    # Rebuilt from zero (the whole log at once): the same rows, to the column
    rebuild(ledger, views, PROJECTIONS["sweep_accounts"])
    assert select(database_url, schema, ROWS) == rows
