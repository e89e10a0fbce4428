"""Opening the ledger for a CLI process: the configured PostgreSQL or the embedded one."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from mass_payout.bootstrap import open_ledger
from mass_payout.embedded import embedded_postgres
from mass_payout.ledger import PayoutLedger
from mass_payout.settings import Settings


@contextlib.contextmanager
def database(settings: Settings, data_dir: Path | None = None) -> Iterator[str]:
    """DATABASE_URL when set; otherwise a real PostgreSQL from pgserver under var/."""
    if settings.database_url:
        yield settings.database_url
        return
    with embedded_postgres(data_dir or settings.var_dir / "postgres") as url:
        yield url


@contextlib.contextmanager
def ledger_session(settings: Settings, schema: str | None = None) -> Iterator[PayoutLedger]:
    with database(settings) as url:
        ledger = open_ledger(url, schema or settings.schema)
        try:
            yield ledger
        finally:
            ledger.close()
