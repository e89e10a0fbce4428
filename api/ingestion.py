"""Ingestion lag for /metrics: how many blocks each vault's ChainCursor is behind the head.

Vaults come from the assets read model; each cursor is read through the ledger (the only
source of truth for how far ingestion got), the head from the RPC endpoint. All of it
blocks, so it runs in a worker thread.
"""

from __future__ import annotations

import logging

from anyio import to_thread
from psycopg import sql
from web3 import Web3

from api.reads import ReadModels
from mass_payout.ledger import PayoutLedger

log = logging.getLogger(__name__)


class IngestionLag:
    def __init__(self, ledger: PayoutLedger, reads: ReadModels, w3: Web3) -> None:
        self.ledger = ledger
        self.reads = reads
        self.w3 = w3

    async def __call__(self) -> dict[str, int]:
        vaults = await self.reads.all(sql.SQL(
            "SELECT DISTINCT chain_id, vault_address FROM {} WHERE vault_address IS NOT NULL"
        ).format(self.reads.table("assets")))
        pairs = [(int(v["chain_id"]), str(v["vault_address"])) for v in vaults]
        return await to_thread.run_sync(self._lag, pairs)

    def _lag(self, vaults: list[tuple[int, str]]) -> dict[str, int]:
        if not vaults:
            return {}
        try:
            head, chain_id = int(self.w3.eth.block_number), int(self.w3.eth.chain_id)
        except OSError as err:  # the RPC is down: /health says so; metrics stay up
            log.warning("ingestion lag unknown: %s", err)
            return {}
        lag: dict[str, int] = {}
        for vault_chain, vault in vaults:
            if vault_chain != chain_id:
                continue  # another chain's vault: this RPC cannot tell its head
            cursor = self.ledger.get_cursor(vault_chain, vault)
            lag[vault] = head - cursor.last_block if cursor else head
        return lag
