"""Redaction of error text, rule by rule (pure: no engine)."""

from __future__ import annotations

import logging

import pytest

from app import redaction
from app.redaction import MASK, redact

KEY = "0x" + "4c" * 32
TX = "0x" + "ab" * 32


@pytest.fixture(autouse=True)
def no_registered_secrets(monkeypatch):
    monkeypatch.setattr(redaction, "_secrets", set())


@pytest.mark.parametrize(("text", "secret"), [
    ("HTTPConnectionPool(host='rpc.example', port=443): Max retries exceeded with url:"
     " https://rpc.example/v1?apikey=abcd1234efgh", "abcd1234efgh"),
    ("RPC failed: https://alice:hunter2hunter2@rpc.example/ refused", "hunter2hunter2"),
    ("redis://:p4ssw0rd-long@cache:6379/0 timed out", "p4ssw0rd-long"),
    ("authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig", "eyJhbGciOiJIUzI1NiJ9"),
    ("bad header X-API-Key mpk_0123abcd_s3cr3tvalue", "s3cr3tvalue"),
    ("config private_key=deadbeefcafe0123 rejected", "deadbeefcafe0123"),
    ('{"password": "correct-horse-battery"}', "correct-horse-battery"),
    ("secret: topsecretvalue", "topsecretvalue"),
])
def test_credentials_are_masked_by_shape(text, secret):
    cleaned = redact(text)
    assert secret not in cleaned and MASK in cleaned


def test_what_operators_need_is_kept():
    text = (f"transaction {TX} reverted: AccountBlocked(0x00000000000000000000000000000000000000aa)"
            " on token 0x1111111111111111111111111111111111111111 at http://127.0.0.1:8545/")
    assert redact(text) == text


def test_registered_secrets_are_masked_exactly_with_or_without_prefix():
    redaction.register(KEY, "https://user:pw-secret-1@rpc.example/path?token=qq-secret-2",
                       None, "")
    for leaked in (KEY, KEY[2:], KEY[2:].upper(), "pw-secret-1", "token=qq-secret-2"):
        assert leaked.split("=")[-1] not in redact(f"failed with {leaked} in it")
    assert redact(f"tx {TX}") == f"tx {TX}"


def test_a_registered_secret_is_masked_as_a_word_not_inside_one():
    # the embedded database's URL: user and password are both "postgres"
    redaction.register("postgresql://postgres:postgres@127.0.0.1:5432/mass_payout")
    # the word stays readable where it is part of another word...
    assert redact("PostgreSQL unavailable") == "PostgreSQL unavailable"
    # ...and is masked where it stands alone
    assert redact("auth failed for postgres:postgres") == f"auth failed for {MASK}:{MASK}"


def test_the_log_filter_masks_arguments_and_exceptions(caplog):
    redaction.register(KEY)
    logger = logging.getLogger("test.redaction")
    handler = logging.Handler()
    seen: list[str] = []
    handler.emit = lambda record: seen.append(record.getMessage())  # type: ignore[method-assign]
    handler.addFilter(redaction.RedactingFilter())
    logger.addHandler(handler)
    try:
        logger.warning("signing with %s", KEY)
        try:
            _load_key()
        except ValueError:
            logger.exception("could not load https://u:topsecret99@x.example/")
    finally:
        logger.removeHandler(handler)
    assert seen and all(KEY[2:] not in m and "topsecret99" not in m for m in seen)


def _load_key() -> None:
    raise ValueError(f"bad key {KEY}")


def test_uvicorns_access_log_still_formats_with_the_filter_installed():
    """uvicorn's access formatter unpacks the record's arguments: a record with nothing to
    hide keeps them, and one with a secret in its path keeps its shape, redacted."""
    from uvicorn.logging import AccessFormatter

    formatter = AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s')
    for path, hidden in (("/health", None), ("/x?api_key=mpk_abc_def", "mpk_abc_def")):
        record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1,
                                   '%s - "%s %s HTTP/%s" %d',
                                   ("127.0.0.1:5", "GET", path, "1.1", 200), None)
        redaction.RedactingFilter().filter(record)
        line = formatter.format(record)
        assert "GET" in line
        assert "200" in line
        if hidden:
            assert hidden not in line
