"""Builders shared by the ledger tests."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from uuid import UUID

from app.ledger import PayoutLedger
from domain.terms import DistributionKind, DistributionTerms, Rule, RuleKind, Withholding

TOKEN = "0x" + "a1" * 20
USD = "0x" + "b2" * 20
RECORD = datetime(2026, 6, 30, tzinfo=UTC)


def terms(total: int = 1_000_000_000, **overrides: object) -> DistributionTerms:
    values: dict[str, object] = {
        "kind": DistributionKind.DIVIDEND, "rule": Rule(RuleKind.PRO_RATA, total),
        "record_date": RECORD, "withholding": Withholding(1_000), "concept": "Q2 dividend",
    }
    values.update(overrides)
    return DistributionTerms(**values)  # type: ignore[arg-type]


def import_asset(ledger: PayoutLedger, decimals: int = 18) -> UUID:
    return ledger.import_asset(chain_id=31337, token_address=TOKEN, name="Acme Equity",
                               symbol="ACME", decimals=decimals, kind="EQUITY",
                               payment_token=USD, payment_decimals=6, vault_address=None,
                               actor="importer")


def holders(n: int, seed: int = 1) -> list[tuple[str, int]]:
    rng = random.Random(seed)
    return [("0x" + rng.randbytes(20).hex(), rng.randint(1, 10**21)) for _ in range(n)]
