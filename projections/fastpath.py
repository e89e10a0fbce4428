"""Decoding the hottest events straight from their stored JSON, with msgspec.

A 100k-holder distribution is ~200k events; the library's mapper (generic JSON with object
hooks, then an event object) is about half of a rebuild's time. These Structs read only the
fields the per-holder view needs. They are used only where the mapper would do nothing more:
no cipher, no compressor, and an event at its class's current version (anything else goes
through the mapper and its upcasters).
"""

from __future__ import annotations

from typing import Any

import msgspec
from eventsourcing.persistence import Mapper
from eventsourcing.utils import resolve_topic


class Entitled(msgspec.Struct):
    position: int
    account: str
    balance: int
    gross: int
    withheld: int
    net: int
    leaf_index: int | None
    skip_reason: str | None
    class_version: int = 1


class EntitledRows(msgspec.Struct):
    """HoldersEntitled: rows of domain.batch.HOLDER_FIELDS."""

    holders: list[tuple[int, str, int, int, int, int, int | None, str | None]]
    class_version: int = 1


class Submitted(msgspec.Struct):
    leaf_indices: list[int]
    class_version: int = 1


class Paid(msgspec.Struct):
    """LeafPaid and LeafClaimed."""

    leaf_index: int
    amount: int
    tx_hash: str
    class_version: int = 1


class PaidLeaves(msgspec.Struct):
    """LeavesPaid: one transaction's leaves in one batch."""

    leaf_indices: list[int]
    amount: int
    tx_hash: str
    class_version: int = 1


class Failed(msgspec.Struct):
    leaf_index: int
    reason: str
    tx_hash: str
    class_version: int = 1


Raw = Entitled | EntitledRows | Submitted | Paid | PaidLeaves | Failed


class FastDecoder:
    def __init__(self, mapper: Mapper[Any], structs: dict[str, type[Raw]]) -> None:
        usable = mapper.cipher is None and mapper.compressor is None
        self.decoders = {
            topic: msgspec.json.Decoder(struct) for topic, struct in structs.items()
        } if usable else {}
        self.versions = {topic: getattr(resolve_topic(topic), "class_version", 1)
                         for topic in structs}

    def decode(self, topic: str, state: bytes) -> Raw | None:
        """The event's fields, or None: use the mapper."""
        decoder = self.decoders.get(topic)
        if decoder is None:
            return None
        raw: Raw = decoder.decode(state)
        return raw if raw.class_version == self.versions[topic] else None
