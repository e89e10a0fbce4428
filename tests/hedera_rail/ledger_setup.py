"""A distribution executing on the HTS rail, for the executor's tests: holders are accounts of
the STAND-IN Hedera network, named by their long-zero EVM addresses as the ledger keeps them."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

from app.ledger import PayoutLedger
from domain.entitlements import Snapshot
from domain.planning import GasModel
from tests.ledger.helpers import RECORD, import_asset, terms


def long_zero(num: int) -> str:
    return "0x" + num.to_bytes(20, "big").hex()


def executing_distribution(ledger: PayoutLedger, holder_nums: list[int],
                           total: int = 1_000_000, *, key: str = "hts",
                           claim_deadline: datetime | None = None) -> UUID:
    """One batch (the vault's gas planning puts up to 1,000 holders in one), executing."""
    asset_id = import_asset(ledger)
    did = ledger.create_distribution(asset_id=asset_id, idempotency_key=key, actor="maker",
                                     terms=terms(total=total))
    ledger.approve_distribution(did, "checker")
    rows = [(long_zero(num), 10**18 * (i + 1)) for i, num in enumerate(holder_nums)]
    ledger.snapshot_distribution(did, snapshot=Snapshot.from_chunks([rows], 18),
                                 snapshot_ref="s", gas_model=GasModel())
    ledger.commit_distribution(did, tx_hash="0x" + "11" * 32,
                               claim_deadline=claim_deadline or RECORD + timedelta(days=30),
                               actor="approver")
    ledger.start_execution(did, "operator")
    return did
