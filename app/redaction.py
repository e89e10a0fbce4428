"""Secrets never reach the immutable log, the read models or the logs.

Error text is untrusted: an RPC client quotes its URL (an API key in the query string, a
password in the user info), a library may echo a key it failed to parse. Every free text the
ledger records from a fault (attempt failures, rejections, unreadable logs), everything the
scheduler reports as failing, and every log line goes through `redact` first.

Two nets, because neither alone is enough:
- exact: the secrets this process was configured with (`register`, by the bootstrap): its
  signing key and passphrase, the user info and query string of each engine URL;
- by shape: URL user info and query strings, `mpk_` API keys, bearer tokens and `name=value`
  pairs whose name says api key, private key, secret, password or access token. A bare
  32-byte hex string is *not* redacted by shape: transaction hashes have that shape and
  operators need them; the configured private key is caught by the exact net.
A regular-expression redactor is written here because no maintained library redacts free
text by these rules; the rules are few and tested one by one.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import urlsplit

MASK = "***"
_secrets: set[str] = set()

_URL_USERINFO = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)[^/\s@'\"]+@", re.IGNORECASE)
_URL_QUERY = re.compile(r"(?P<url>[a-z][a-z0-9+.-]*://[^\s?'\"]*)\?[^\s'\"#]*", re.IGNORECASE)
_API_KEY = re.compile(r"\bmpk_[A-Za-z0-9_-]+")
_BEARER = re.compile(r"\b(?P<kind>bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}", re.IGNORECASE)
_NAMED = re.compile(  # not a bare "token" or "key": token addresses and key ids are public
    r"(?P<name>[\w-]*(?:api[_-]?key|private[_-]?key|secret|passw(?:or)?d|passphrase"
    r"|access[_-]?token|auth[_-]?token)[\w-]*)"
    r"(?P<sep>['\"]?\s*[=:]\s*['\"]?)(?P<value>[^\s'\",;&)]+)", re.IGNORECASE)


def register(*values: str | None) -> None:
    """Remember this process's secrets (and, for a URL, its user info and query string)."""
    for value in values:
        if not value:
            continue
        parts = urlsplit(value) if "://" in value else None
        if parts is not None:
            for piece in (parts.password, parts.username, parts.query):
                if piece and len(piece) >= 4:
                    _secrets.add(piece)
            continue
        _secrets.add(value)
        if value.startswith("0x"):
            _secrets.add(value[2:])  # a hex key is printed with or without its prefix


def _whole(secret: str) -> re.Pattern[str]:
    """`secret` as a whole word (a hex key also right after its `0x`): the embedded
    database's password is "postgres", and masking it inside "PostgreSQL" told operators
    "***QL unavailable". A secret glued to other letters or digits is not that secret."""
    edge = "" if not secret[:1].isalnum() else r"(?:(?<=0x)|(?<![A-Za-z0-9]))"
    tail = "" if not secret[-1:].isalnum() else r"(?![A-Za-z0-9])"
    return re.compile(edge + re.escape(secret) + tail, re.IGNORECASE)


def redact(text: str) -> str:
    """`text` without anything that could be a credential."""
    folded = text.casefold()
    for secret in sorted(_secrets, key=len, reverse=True):  # hex keys print in either case
        if secret.casefold() in folded:
            text = _whole(secret).sub(MASK, text)
            folded = text.casefold()
    text = _URL_USERINFO.sub(lambda m: f"{m['scheme']}{MASK}@", text)
    text = _URL_QUERY.sub(lambda m: f"{m['url']}?{MASK}", text)
    text = _API_KEY.sub(f"mpk_{MASK}", text)
    text = _BEARER.sub(lambda m: f"{m['kind']} {MASK}", text)
    return _NAMED.sub(lambda m: f"{m['name']}{m['sep']}{MASK}", text)


class RedactingFilter(logging.Filter):
    """A log line redacted after its arguments are merged (the secret is usually in an
    argument, not in the format string), its exception reduced to a redacted one-liner."""

    def filter(self, record: logging.LogRecord) -> bool:
        _clean(record)
        return True


def _clean(record: logging.LogRecord) -> None:
    if getattr(record, "redacted", False):
        return
    record.redacted = True
    message = record.getMessage()
    cleaned = redact(message)
    failed = record.exc_info is not None and record.exc_info[1] is not None
    if cleaned == message and not failed:
        return  # nothing to hide: the record keeps its arguments (uvicorn's access log
        # formatter unpacks them; a merged record made it fail on every request)
    if isinstance(record.args, tuple) and isinstance(record.msg, str) and not failed:
        args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        try:
            kept = redact(record.msg) % args == cleaned
        except (TypeError, ValueError):
            kept = False
        if kept:  # each argument redacted on its own: the record keeps its shape
            record.msg, record.args = redact(record.msg), args
            return
    if failed and record.exc_info is not None:
        cleaned += " | " + redact(repr(record.exc_info[1]))
        record.exc_info, record.exc_text = None, None  # a traceback quotes arguments
    record.msg, record.args = cleaned, None


def install_log_filter() -> None:
    """Every record of this process, whichever library's handler prints it (RQ and uvicorn
    install their own): records are redacted as they are made."""
    make = logging.getLogRecordFactory()
    if getattr(make, "redacting", False):
        return

    def redacting(*args: object, **kwargs: object) -> logging.LogRecord:
        record = make(*args, **kwargs)
        _clean(record)
        return record

    redacting.redacting = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(redacting)
