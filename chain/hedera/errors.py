"""What the Mirror Node adapters raise: one small hierarchy under `ChainError`.

Transient (`TransientChainError`): worth asking again later, and the ingestor's loop does so
with backoff: the node kept answering 429/5xx or timing out, or its answer could not be trusted
(malformed JSON, a page out of order). Nothing is recorded from such an answer and the cursor
stays where it was. The others are permanent for the input given: no retry repairs them.
"""

from __future__ import annotations

from chain.errors import ChainError
from chain.gateway import TransientChainError


class MirrorNodeError(ChainError):
    """Base of every Mirror Node adapter error."""


class MirrorNodeUnavailable(MirrorNodeError, TransientChainError):
    """429/5xx/timeouts outlasted the client's retries."""


class MirrorNodeInconsistent(MirrorNodeError, TransientChainError):
    """An answer that cannot be trusted: malformed JSON, a missing field, rows out of order or
    overlapping across pages, a block that is not there. Ask again; never record it."""


class MirrorNodeRequestRefused(MirrorNodeError):
    """A 4xx other than 404/429: our request is wrong (a bug or a bad parameter)."""


class AccountNotFound(MirrorNodeError):
    """The network has no such account (by id, long-zero address or alias)."""


class InvalidHederaId(MirrorNodeError):
    """Not an account/token/contract reference we can parse."""


class NotAFungibleToken(MirrorNodeError):
    """A token id of the wrong kind: no such token, or not FUNGIBLE_COMMON."""


class BalancesDisagree(MirrorNodeError):
    """A balance snapshot whose holders do not add up to the token's total supply at the
    snapshot's timestamp: paying from it would pay the wrong people."""
