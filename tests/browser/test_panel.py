"""The admin panel, end to end in Chromium: a dividend run from the browser by the people who
run it, watched live (see conftest.py for the system it runs on)."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from devtools.devnet import unblock
from tests.browser.conftest import HOLDERS, POOL, PanelServer, screenshot

pytestmark = pytest.mark.browser

WRITES = ("approve", "execute", "retry-all", "retry-selected", "cancel", "import", "pause",
          "resume")
LIVE = 45_000  # ms: a live change (projection → SSE → htmx) on two busy cores
MARKER = "set before, so a reload would have lost it"


def sign_in(chromium: Browser, server: PanelServer, who: str) -> Page:
    """A browser of one's own (a context: its own cookies), signed in with one's key."""
    context = chromium.new_context(base_url=server.url, accept_downloads=True,
                                   viewport={"width": 1280, "height": 900})
    context.set_default_timeout(20_000)
    page = context.new_page()
    page.goto(server.panel("/login"))
    page.get_by_label("API key").fill(server.keys[who])
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator(".who")).to_contain_text(who)
    return page


def fill_dividend(page: Page, server: PanelServer, asset_id: str) -> None:
    """The new-distribution form for the story's dividend: 3,000 USD pro rata, 10 % withheld,
    the treasury excluded, paid when an operator says so."""
    page.goto(server.panel(f"/distributions/new?asset_id={asset_id}"))
    page.locator("#nd-kind").select_option("DIVIDEND")
    page.locator("#nd-concept").fill("Q4 dividend")
    page.locator("#nd-rule-kind").select_option("PRO_RATA")
    page.locator("#nd-rule-value").fill(f"{POOL // 10**6:,}")
    page.locator("#nd-withholding").fill("10")
    page.locator("#nd-excluded").fill(server.net.treasury)
    record_date = datetime.now(UTC) - timedelta(seconds=2)
    page.locator("#nd-record-date").fill(record_date.strftime("%Y-%m-%dT%H:%M:%S"))
    expect(page.locator("#nd-exec-manual")).to_be_checked()


def mark(page: Page) -> None:
    page.evaluate(f"window.__marker = {MARKER!r}")


def no_reload_since_marked(page: Page) -> bool:
    return bool(page.evaluate("window.__marker") == MARKER)


class Live:
    """What a page shows without a reload: every check holds within LIVE ms of the change
    (it arrives over the SSE stream), and the page was not reloaded to get there."""

    def __init__(self, server: PanelServer) -> None:
        self.server = server

    def shows(self, page: Page, what: str, *checks: Callable[[int], None]) -> None:
        try:
            for check in checks:
                check(LIVE)
        except AssertionError:
            print(f"not shown: {what}\n{self.server.tails()}")  # the processes' side of it
            raise
        assert no_reload_since_marked(page), f"the page was reloaded: {what}"


def test_a_dividend_is_imported_approved_paid_retried_and_reported_from_the_browser(
        panel_server: PanelServer, chromium: Browser) -> None:
    server, net = panel_server, panel_server.net

    # Alice, an operator, signs in with her key; the browser keeps only a session cookie.
    alice = sign_in(chromium, server, "alice")

    # She imports the token through the wizard: the address, the payment token and the vault;
    # the panel reads the token's facts from its contract for her review, then imports it.
    alice.goto(server.panel("/assets/import"))
    alice.locator("#token").fill(net.token.address)
    alice.locator("#payment_token").fill(net.usd.address)
    alice.locator("#payment_decimals").fill("6")
    alice.locator("#vault").fill(net.vault.address)
    alice.locator("[data-action=review]").click()
    review = alice.locator("#review")
    expect(review.locator("[data-fact=symbol]")).to_have_text("ACME")
    expect(review.locator("[data-fact=name]")).to_have_text("Acme Equity")
    alice.locator("[data-action=import]").click()
    alice.wait_for_url(re.compile(r"/panel/assets/[0-9a-f-]{36}$"))
    asset_id = alice.url.rsplit("/", 1)[-1]

    # She fills in the new-distribution form: 3,000 USD pro rata, 10 % withheld, the
    # treasury excluded, paid when an operator says so; and previews it first. Never
    # snapshotted yet, the asset's holders are read from the token as it stands now.
    fill_dividend(alice, server, asset_id)
    alice.locator("[data-action=preview]").click()
    first = alice.locator("#preview[data-preview=true]")
    expect(first.locator("[data-total=eligible]")).to_have_attribute("data-value",
                                                                     str(HOLDERS))
    expect(first.locator("[data-total=gross]")).to_have_attribute("data-value", str(POOL))
    # She creates it, and lands on its page.
    alice.locator("[data-action=create]").click()
    alice.wait_for_url(re.compile(r"/panel/distributions/[0-9a-f-]{36}$"))
    did = alice.url.rsplit("/", 1)[-1]

    # Her page says it waits for another approver: she made it, so she may not approve it.
    page_path = f"/distributions/{did}"
    expect(alice.locator("#status")).to_have_attribute("data-status", "CREATED")
    expect(alice.locator("[data-waiting=approver]")).to_be_visible()
    expect(alice.locator("[data-action=approve]")).to_have_count(0)
    # From here on her page is never reloaded: everything she sees next arrives live.
    mark(alice)
    live = Live(server)

    # Bob, an approver, signs in in a browser of his own and approves: four eyes.
    bob = sign_in(chromium, server, "bob")
    bob.goto(server.panel(page_path))
    bob.locator("[data-action=approve]").click()
    mark(bob)

    # The scheduler freezes the record-date snapshot and commits the root on the vault; Alice's
    # page follows, and offers her the execute button once it is committed.
    live.shows(alice, "alice: COMMITTED with an execute button",
               lambda t: expect(alice.locator("#status")).to_have_attribute(
                   "data-status", "COMMITTED", timeout=t),
               lambda t: expect(alice.locator("[data-action=execute]")).to_be_visible(
                   timeout=t))
    # She executes (the browser asks her to confirm).
    alice.once("dialog", lambda dialog: dialog.accept())
    alice.locator("[data-action=execute]").click()

    # The workers pay; the badge and the progress bar reach the end without a reload. The
    # blocklisted holder's transfer reverts: completed with failures, that holder FAILED
    # with the reason the vault gave.
    failed = alice.locator("#holders tr[data-status=FAILED]")
    live.shows(alice, "alice: COMPLETED_WITH_FAILURES, 29 paid, the blocked holder FAILED",
               lambda t: expect(alice.locator("#status")).to_have_attribute(
                   "data-status", "COMPLETED_WITH_FAILURES", timeout=t),
               lambda t: expect(alice.locator("#progress")).to_have_attribute(
                   "data-paid", str(HOLDERS - 1), timeout=t),
               lambda t: expect(alice.locator("#progress")).to_have_attribute(
                   "data-failed", "1", timeout=t),
               lambda t: expect(failed).to_have_count(1, timeout=t))
    expect(failed.locator("code").first).to_have_attribute("title", re.compile(
        re.escape(server.blocked), re.IGNORECASE))
    reason = failed.locator("td").nth(5)  # select, #, account, net, status, reason
    expect(reason).not_to_have_text("—")
    expect(reason).to_contain_text(re.compile(r"\w+"))
    screenshot(alice, "distribution-live")

    # In another tab, the dashboard lists what needs a person: the failed holder, with what
    # to do about it.
    dashboard = alice.context.new_page()
    dashboard.goto(server.panel("/"))
    expect(dashboard.locator("tr[data-kind=failed-holders]")).to_contain_text("1 holders failed")
    expect(dashboard.locator("[data-status=COMPLETED_WITH_FAILURES] .n")).to_have_text("1")
    screenshot(dashboard, "dashboard")
    dashboard.close()

    # The holder's compliance case is resolved: the stablecoin's admin lifts the block.
    unblock(net, server.blocked)

    # Bob retries that holder from his page: he selects it, gives a reason, retries.
    leaf = bob.locator("#holders tr[data-status=FAILED] input[name=leaf]")
    live.shows(bob, "bob: COMPLETED_WITH_FAILURES, the failed holder selectable",
               lambda t: expect(bob.locator("#status")).to_have_attribute(
                   "data-status", "COMPLETED_WITH_FAILURES", timeout=t),
               lambda t: expect(leaf).to_have_count(1, timeout=t))
    leaf.check()
    # A live refresh of the holders while he is at it keeps his selection.
    with bob.expect_response(re.compile(r"/fragments/holders")):
        bob.evaluate("htmx.trigger('#holders', 'sse:distribution_holders')")
    expect(leaf).to_be_checked()
    bob.locator("#retry-reason").fill("the holder's block was lifted")
    bob.locator("[data-action=retry-selected]").click()

    # It is paid: every holder PAID (the treasury skipped), the distribution COMPLETED, on
    # both pages, live.
    for who, page in (("alice", alice), ("bob", bob)):
        live.shows(page, f"{who}: COMPLETED, every holder PAID",
                   lambda t, page=page: expect(page.locator("#status")).to_have_attribute(
                       "data-status", "COMPLETED", timeout=t),
                   lambda t, page=page: expect(page.locator(
                       "#holders tr[data-status=FAILED]")).to_have_count(0, timeout=t),
                   lambda t, page=page: expect(page.locator(
                       "#holders tr[data-status=PAID]")).to_have_count(HOLDERS, timeout=t))
    screenshot(alice, "distribution")

    # The CSV report lists every holder.
    with alice.expect_download() as download:
        alice.locator("a#csv").click()
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    listed = {value.lower() for row in rows for value in row.values() if value}
    assert {h.lower() for h in [*net.holders, net.treasury]} <= listed, rows[:3]
    assert len(rows) == HOLDERS + 1

    # Carol, a viewer, sees the same page and not one action.
    carol = sign_in(chromium, server, "carol")
    carol.goto(server.panel(page_path))
    expect(carol.locator("#status")).to_have_attribute("data-status", "COMPLETED")
    expect(carol.locator("#holders tr[data-status=PAID]")).to_have_count(HOLDERS)
    for action in WRITES:
        expect(carol.locator(f"[data-action={action}]")).to_have_count(0)
    expect(carol.locator("#retry-form, #cancel-form, #holders input[name=leaf]")).to_have_count(0)

    # The next dividend: now that the holders are known, the form previews it before anything
    # is recorded: every holder but the treasury eligible, the pool split, 10 % withheld.
    fill_dividend(alice, server, asset_id)
    alice.locator("[data-action=preview]").click()
    preview = alice.locator("#preview[data-preview=true]")
    expect(preview.locator("[data-total=holders]")).to_have_attribute("data-value",
                                                                      str(HOLDERS + 1))
    expect(preview.locator("[data-total=eligible]")).to_have_attribute("data-value",
                                                                       str(HOLDERS))
    expect(preview.locator("[data-total=skipped]")).to_have_attribute("data-value", "1")
    expect(preview.locator("tr[data-reason=EXCLUDED][data-account]")).to_have_attribute(
        "data-account", re.compile(re.escape(net.treasury), re.IGNORECASE))
    totals = {name: int(preview.locator(f"[data-total={name}]").get_attribute("data-value")
                        or -1) for name in ("gross", "net", "withheld", "dust")}
    assert totals["gross"] == POOL, totals
    assert totals["net"] + totals["withheld"] + totals["dust"] == totals["gross"], totals
    assert totals["withheld"] == pytest.approx(totals["gross"] / 10, abs=HOLDERS), totals
    screenshot(alice, "new-distribution-preview")
    listed = server.api.get("/distributions", headers={"X-API-Key": server.keys["carol"]})
    assert [d["distribution_id"] for d in listed.json()["items"]] == [did]  # nothing recorded

    # The dashboard, with the distribution done: nothing needs a person any more.
    alice.goto(server.panel("/"))
    expect(alice.locator("[data-empty=attention]")).to_be_visible()
