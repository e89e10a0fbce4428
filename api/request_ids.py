"""The request id every log line carries while a request is served (api.observability sets
it). On its own, without the web stack: every process's logging installs it
(runtime.logs), and a worker or the ingestor must not import Litestar for that."""

from __future__ import annotations

import logging
from contextvars import ContextVar

REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)


def install_request_ids() -> None:
    """Every log record gets `request_id`: the request's being served in this context (it
    follows the request into the threads anyio runs its blocking calls in), else None."""
    make = logging.getLogRecordFactory()
    if getattr(make, "request_ids", False):
        return

    def with_request_id(*args: object, **kwargs: object) -> logging.LogRecord:
        record = make(*args, **kwargs)
        if not hasattr(record, "request_id"):
            record.request_id = REQUEST_ID.get()
        return record

    with_request_id.request_ids = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(with_request_id)
