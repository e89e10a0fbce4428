"""How ledger ids appear on-chain: a distribution's UUID is the low 16 bytes of its bytes32."""

from __future__ import annotations

from uuid import UUID


def onchain_id(distribution_id: UUID) -> bytes:
    return bytes(16) + distribution_id.bytes


def ledger_id(onchain: bytes) -> UUID | None:
    """The UUID behind a vault distribution id, or None for one this service did not create."""
    if len(onchain) != 32 or onchain[:16] != bytes(16):
        return None
    return UUID(bytes=onchain[16:])
