"""Signing in, roles, CSRF and signing out at the panel (the browser tests drive the same)."""

from __future__ import annotations

import time

from api.keys import Role, create_key, revoke_key
from tests.web.conftest import hx, sign_in


def test_a_page_without_a_session_sends_the_browser_to_sign_in(web):
    answer = web.get("/panel/", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/panel/login?next=/panel/"
    # an htmx fragment is told where to go instead of swapping a login page into itself
    fragment = web.get("/panel/fragments/attention", headers={"HX-Request": "true"})
    assert fragment.headers["HX-Redirect"].startswith("/panel/login")


def test_a_wrong_key_is_refused_on_the_form_and_no_session_is_made(web):
    answer = web.post("/panel/login", data={"key": "mpk_nope_nope", "next": "/panel/"})
    assert answer.status_code == 401
    assert 'aria-invalid="true"' in answer.text
    assert "unknown or revoked API key" in answer.text
    assert "mp_session" not in answer.cookies


def test_the_session_cookie_is_httponly_strict_and_never_the_key(web, keys):
    answer = web.post("/panel/login", data={"key": keys["viewer"], "next": "/panel/"},
                      follow_redirects=False)
    assert answer.status_code == 303
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "samesite=strict" in cookie.lower()
    assert keys["viewer"] not in cookie
    assert "Path=/panel" in cookie
    assert "Secure" not in cookie  # plain http on loopback: a developer's machine


def test_the_session_cookie_is_secure_off_loopback(web, keys):
    answer = web.post("/panel/login", data={"key": keys["viewer"], "next": "/panel/"},
                      headers={"Host": "payouts.example"}, follow_redirects=False)
    assert "Secure" in answer.headers["set-cookie"]


def test_the_dashboard_shows_who_is_signed_in_and_the_empty_state(web, keys):
    sign_in(web, keys["viewer"])
    page = web.get("/panel/")
    assert page.status_code == 200
    assert "(viewer)" in page.text
    assert 'data-status="WAITING_FOR_FUNDS"' in page.text
    # no scheduler ticks in this test: the dashboard says so, with what to do
    assert 'data-kind="scheduler-not-leading"' in page.text
    assert "mass-payout scheduler" in page.text


def test_a_write_without_the_csrf_token_is_refused(web, keys):
    csrf = sign_in(web, keys["viewer"])
    refused = web.post("/panel/logout", headers={"HX-Request": "true"})
    assert refused.status_code == 403
    assert "reload the page" in refused.text
    other_site = web.post("/panel/logout", headers={**hx(csrf), "Origin": "https://evil.example"})
    assert other_site.status_code == 403
    assert web.get("/panel/", follow_redirects=False).status_code == 200  # still signed in


def test_signing_out_ends_the_session(web, keys):
    csrf = sign_in(web, keys["viewer"])
    cookie = web.cookies.get("mp_session")
    answer = web.post("/panel/logout", headers=hx(csrf))
    assert answer.headers["HX-Redirect"] == "/panel/login"
    web.cookies.set("mp_session", cookie, path="/panel")  # a copy kept by an attacker
    assert web.get("/panel/", follow_redirects=False).status_code == 303


def test_a_revoked_key_ends_its_sessions_at_once(web, database_url, schema):
    key_id, key = create_key(database_url, schema, Role.OPERATOR, principal="carol")
    sign_in(web, key)
    assert web.get("/panel/", follow_redirects=False).status_code == 200
    assert revoke_key(database_url, schema, key_id)
    # Revoked from another process (the CLI): this one hears it by NOTIFY, after the commit.
    # On a loaded machine delivery can take a moment, so the check allows it two seconds.
    assert eventually(lambda: web.get("/panel/", follow_redirects=False).status_code == 303)


def test_the_browser_assets_come_from_the_app_not_a_cdn(web, keys):
    page = web.get("/panel/login")
    assert "http://" not in page.text
    assert "https://" not in page.text
    for asset in ("/panel/static/htmx.org/dist/htmx.min.js",
                  "/panel/static/htmx-ext-sse/dist/sse.min.js",
                  "/panel/static/@picocss/pico/css/pico.min.css", "/panel/static/panel.css"):
        assert web.get(asset).status_code == 200, asset


def test_an_open_redirect_after_sign_in_is_refused(web, keys):
    answer = web.post("/panel/login", data={"key": keys["viewer"],
                                            "next": "https://evil.example/"},
                      follow_redirects=False)
    assert answer.headers["location"] == "/panel/"


def eventually(check, *, within: float = 2.0) -> bool:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True
