"""Share transfers of a security token, as observed on-chain, one record per ingested range.

Transfers can number millions over an asset's life, so they do not go onto the Asset: each
ingested block range that saw transfers creates one small immutable `TransfersObserved`,
written once with the cursor that covers it and never loaded for writing again. Read models
(holders per asset) follow them through the notification log.
"""

from __future__ import annotations

from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.ids import NAMESPACE


class TransfersObserved(Aggregate):
    class Observed(Aggregate.Created):
        asset_id: UUID
        from_block: int
        to_block: int
        transfers: list[list[object]]  # [sender, recipient, amount, tx_hash, log_index]

    @staticmethod
    def create_id(asset_id: UUID, from_block: int, to_block: int) -> UUID:
        return uuid5(NAMESPACE, f"transfers/{asset_id}/{from_block}-{to_block}")

    @event(Observed)
    def __init__(self, asset_id: UUID, from_block: int, to_block: int,
                 transfers: list[list[object]]) -> None:
        self.asset_id = asset_id
        self.from_block = from_block
        self.to_block = to_block
        self.transfers = transfers
