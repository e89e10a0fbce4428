"""Log setup for every process: text lines (the default) or, with MASS_PAYOUT_LOG_FORMAT=json,
one JSON object per line for a log shipper.

python-json-logger rather than structlog: it is a `logging.Formatter`, so the records RQ,
uvicorn, web3 and our own modules make through the standard library are formatted as they
are, and the two record factories every line goes through stay in force — app.redaction's
(a secret in a message or an argument is masked before any formatter sees the record) and
api.observability's (the request id of the request being served). structlog would bring a
second logging pipeline to bridge both into.

Each line: time, level, logger, message and request_id (None outside a request); the access
log's lines add method, route, status, duration_ms and principal.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

from api.request_ids import install_request_ids
from app import redaction
from runtime.settings import LogFormat

TEXT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
JSON_FIELDS = ("asctime", "levelname", "name", "message", "request_id")


class _Ours(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler `configure` installs (replaced, never duplicated, when called again). It
    writes to whatever `sys.stderr` is when a line is written (a test's capture, too)."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def formatter(log_format: LogFormat) -> logging.Formatter:
    if log_format == "json":
        return JsonFormatter(list(JSON_FIELDS), rename_fields={
            "asctime": "time", "levelname": "level", "name": "logger"},
            reserved_attrs=[*RESERVED_ATTRS, "redacted"])  # app.redaction's own mark
    return logging.Formatter(TEXT)


def configure(log_format: LogFormat, *, level: int = logging.INFO) -> logging.Handler:
    """The root logger writes to stderr in `log_format`; every record is redacted and
    carries its request id. Idempotent."""
    install_request_ids()
    redaction.install_log_filter()
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _Ours)]:
        root.removeHandler(handler)
    handler = _Ours()
    handler.setFormatter(formatter(log_format))
    root.addHandler(handler)
    root.setLevel(level)
    return handler
