"""Account references: EVM addresses and Hedera `shard.realm.num` ids.

The ledger stores every account in one canonical form, the EIP-55 checksummed EVM address,
so that the same holder is never two holders. A Hedera id maps to its "long-zero" address
(4 bytes shard, 8 bytes realm, 8 bytes num). An ECDSA alias address has no id we can derive
offline: resolving it needs the Mirror Node, which is the chain adapter's job.

`ACCOUNT_PATTERN` is the whole grammar, Hedera ranges included, and the API documents it as
is: a string it matches is refused only for a wrong EIP-55 checksum, which no pattern says.
"""

from __future__ import annotations

import re

from domain.errors import InvalidAccount
from domain.merkle import keccak
from domain.values import at_most, whole

_MAX_SHARD = 2**32 - 1
_MAX_REALM_OR_NUM = 2**64 - 1
HEX_ADDRESS = r"0x[0-9a-fA-F]{40}"
HEDERA_ID = rf"(?:{at_most(_MAX_SHARD)})\.(?:{at_most(_MAX_REALM_OR_NUM)})" \
            rf"\.(?:{at_most(_MAX_REALM_OR_NUM)})"
ACCOUNT_PATTERN = whole(f"{HEX_ADDRESS}|{HEDERA_ID}")
_HEX_ADDRESS = re.compile(whole(HEX_ADDRESS))
_HEDERA_ID = re.compile(whole(HEDERA_ID))


def checksum(address_bytes: bytes) -> str:
    """EIP-55 mixed-case checksum of a 20-byte address (hot path: once per holder)."""
    lower = address_bytes.hex()
    digest = keccak(lower.encode("ascii")).hex()
    # A letter is upper-cased where its digest nibble is >= 8; digits are case-less.
    upper = lower.upper()
    return "0x" + "".join([u if h > "7" else c
                           for c, u, h in zip(lower, upper, digest[:40], strict=True)])


def address_bytes(account: str) -> bytes:
    """Parse an EVM address or a Hedera id into its 20 bytes; reject anything else, blanks
    around it included: the grammar is the one the API documents."""
    if not isinstance(account, str):
        raise InvalidAccount(f"an account is a string, got {type(account).__name__}")
    if _HEX_ADDRESS.match(account):
        raw = bytes.fromhex(account[2:])
        body = account[2:]
        mixed_case = body != body.lower() and body != body.upper()
        if mixed_case and checksum(raw) != account:
            raise InvalidAccount(f"{account} fails its EIP-55 checksum (a typo?)")
        return raw
    if _HEDERA_ID.match(account):  # in range by the pattern
        shard, realm, num = (int(part) for part in account.split("."))
        return shard.to_bytes(4, "big") + realm.to_bytes(8, "big") + num.to_bytes(8, "big")
    raise InvalidAccount(f"{account!r} is neither an EVM address (0x + 40 hex) nor a Hedera id"
                         " (shard.realm.num, at most 2**32 - 1 and 2**64 - 1)")


def canonical(account: str) -> str:
    """The one spelling the ledger stores: the checksummed EVM address."""
    return checksum(address_bytes(account))


def hedera_id(account: str) -> str | None:
    """The `0.0.num` id of a long-zero address, or None for an ECDSA alias address.

    Every Hedera network in service today is shard 0, realm 0, so a long-zero address is one
    whose first 12 bytes are zero; an alias is keccak-derived and (with overwhelming
    probability) is not.
    """
    raw = address_bytes(account)
    if raw[:12] != bytes(12):
        return None
    return f"0.0.{int.from_bytes(raw[12:], 'big')}"
