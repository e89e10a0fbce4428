"""The commitment an HTS distribution publishes to an HCS topic before it pays anyone: its
entitlements' Merkle root and totals, in a canonical form, so every later payment can be
checked against a public, consensus-timestamped statement of what was approved.

Canonical JSON (sorted keys, no spaces, ASCII) so the same distribution always gives the same
bytes: publishing twice is visibly the same commitment. One HCS message holds 1,024 bytes;
ours is about 250.
"""

from __future__ import annotations

import json
from uuid import UUID

from domain.errors import InvalidInput

FORMAT = "mass-payout/commitment/1"
MAX_MESSAGE_BYTES = 1_024


def commitment_message(*, distribution_id: UUID, merkle_root: str, token: str,
                       total_net: int, leaf_count: int) -> bytes:
    root = merkle_root.lower()
    if len(root) != 66 or not root.startswith("0x") or any(
            c not in "0123456789abcdef" for c in root[2:]):
        raise InvalidInput("a Merkle root is 0x and 32 bytes of hex")
    if total_net < 0 or leaf_count < 0:
        raise InvalidInput("totals are non-negative")
    body = {"format": FORMAT, "distribution": str(distribution_id), "root": root,
            "token": token, "total_net": str(total_net), "leaf_count": leaf_count}
    message = json.dumps(body, sort_keys=True, separators=(",", ":")).encode("ascii")
    if len(message) > MAX_MESSAGE_BYTES:
        raise InvalidInput(f"the commitment is over {MAX_MESSAGE_BYTES} bytes")
    return message
