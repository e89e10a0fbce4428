"""Deterministic ids: anything that can be created twice gets the same id both times,
so a retried command conflicts with (or finds) the first one instead of duplicating it."""

from __future__ import annotations

from uuid import UUID, uuid5

NAMESPACE = UUID("6f1d0a8e-43c4-5b8e-9a57-2d3e4c5b6a70")


def asset_id(chain_id: int, token_address: str) -> UUID:
    return uuid5(NAMESPACE, f"asset/{chain_id}/{token_address.lower()}")


def distribution_id(asset: UUID, idempotency_key: str) -> UUID:
    return uuid5(NAMESPACE, f"distribution/{asset}/{idempotency_key}")


def batch_id(distribution: UUID, number: int) -> UUID:
    return uuid5(distribution, f"batch/{number}")
