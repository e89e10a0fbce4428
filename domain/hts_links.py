"""Which transaction a batch's next legs go in, from what the Mirror Node says of each
holder's relationship with the payment token.

A TransferTransaction is atomic and its receipt names no holder: one holder it cannot reach
(not associated, frozen, KYC revoked) fails the whole transaction, and finding that holder
then costs one transaction per holder of the batch (app/hts_executor.py). Asking the Mirror
Node first (`/api/v1/accounts/{id}/tokens?token.id=`, free, no fee) lets the worker send:
- a frozen or KYC-revoked holder alone, so it fails alone with the network's own status;
- the rest together: one TransferTransaction, or, when any of them is not associated with
  the token, one TokenAirdrop for all of them. An airdrop credits an associated holder at
  once, as a transfer would (HIP-904), and leaves the others' pending until they claim; so a
  batch stays one transaction whoever in it is unassociated (an airdrop for the
  unassociated beside a transfer for the rest would be two, and a failed transfer, nine
  single ones and an airdrop eleven). The airdrop's extra fee is charged per pending
  airdrop, which the unassociated holders cost either way.

The Mirror Node's answer is advice, never the authority: it lags consensus by seconds and
may not answer at all. Wrong either way, it costs transactions, never money: a holder said
to be associated who is not fails the transfer (the worker then pays one holder per
transaction, as without this); an airdrop to a holder who is associated pays it at once; a
frozen holder since unfrozen is paid alone. The outcome recorded is always the network's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import Enum

from domain.hts_planning import AccountRef, HtsLeg


class TokenLink(Enum):
    ASSOCIATED = "ASSOCIATED"          # a transfer reaches it
    NOT_ASSOCIATED = "NOT_ASSOCIATED"  # only an airdrop does (pending until claimed)
    FROZEN = "FROZEN"                  # the token's freeze key froze it: a transfer fails
    KYC_REVOKED = "KYC_REVOKED"        # the token requires KYC it lacks: a transfer fails
    UNKNOWN = "UNKNOWN"                # the Mirror Node did not say: treat as reachable


BARRED = (TokenLink.FROZEN, TokenLink.KYC_REVOKED)


def next_transaction(legs: Sequence[HtsLeg], links: Mapping[AccountRef, TokenLink],
                     ) -> tuple[str, list[HtsLeg]]:
    """The kind ("transfer" | "airdrop") and legs of the next transaction, out of `legs`
    (which fit one transaction, in leaf order): a barred holder alone first, then everyone
    else together, by airdrop when any of them is not associated."""
    barred = [leg for leg in legs if links.get(leg.account) in BARRED]
    if barred and len(legs) > 1:
        return "transfer", barred[:1]
    if any(links.get(leg.account) is TokenLink.NOT_ASSOCIATED for leg in legs):
        return "airdrop", list(legs)
    return "transfer", list(legs)
