"""Ingestion lag for /metrics: how many blocks each vault's ChainCursor is behind the head.

Vaults come from the assets read model and each cursor's last block from the
`ingestion_cursors` read model: two indexed reads, however many ranges ingestion has recorded
(loading the ChainCursor aggregate would replay all of them). The figure is as of that read
model, whose own lag /metrics reports as `projection_lag_events{projection="ingestion_cursors"}`.
The head comes from the RPC endpoint, which blocks, so that part runs in a worker thread.
"""

from __future__ import annotations

import logging
from uuid import UUID

import psycopg
from anyio import to_thread
from psycopg import sql
from web3 import Web3

from api.reads import ReadModels
from domain.cursor import ChainCursor

log = logging.getLogger(__name__)


class IngestionLag:
    def __init__(self, reads: ReadModels, w3: Web3) -> None:
        self.reads = reads
        self.w3 = w3

    async def __call__(self) -> dict[str, int]:
        vaults = await self.reads.all(sql.SQL(
            "SELECT DISTINCT chain_id, vault_address FROM {} WHERE vault_address IS NOT NULL"
        ).format(self.reads.table("assets")))
        if not vaults:
            return {}
        head = await to_thread.run_sync(self._head)
        if head is None:
            return {}
        block, chain_id = head
        ids: dict[UUID, str] = {
            ChainCursor.create_id(chain_id, v["vault_address"]): str(v["vault_address"])
            for v in vaults if int(v["chain_id"]) == chain_id}  # others: this RPC cannot tell
        try:
            found = await self.reads.all(sql.SQL(
                "SELECT cursor_id, last_block FROM {} WHERE cursor_id = ANY(%s)").format(
                self.reads.table("ingestion_cursors")), (list(ids),))
        except psycopg.errors.UndefinedTable:  # the projector has not started this one yet
            found = []
        cursors = {r["cursor_id"]: int(r["last_block"]) for r in found}
        return {vault: block - cursors[i] if i in cursors else block
                for i, vault in ids.items()}

    def _head(self) -> tuple[int, int] | None:
        try:
            return int(self.w3.eth.block_number), int(self.w3.eth.chain_id)
        except OSError as err:  # the RPC is down: /health says so; metrics stay up
            log.warning("ingestion lag unknown: %s", err)
            return None
