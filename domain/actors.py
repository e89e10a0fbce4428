"""Who acted: the actor string recorded in events, and the person (or service) behind it.

An API caller is recorded as `principal:<name>/key:<key id>`: the principal is who answers
for the act, the key is how they proved it (kept for audit). Four-eyes rules compare
principals, so one person holding two keys is still one pair of eyes.

Any other actor is its own principal: `key:<id>` (recorded before keys had principals), a
CLI operator's name, `scheduler`. Old events therefore mean what they meant; and since guards
never run on replay, nothing recorded is re-judged by this rule.
"""

from __future__ import annotations

_PRINCIPAL = "principal:"
_KEY = "/key:"


def key_actor(principal: str | None, key_id: str) -> str:
    """The actor for a call made with key `key_id`; no principal: the key is its own."""
    return f"{_PRINCIPAL}{principal}{_KEY}{key_id}" if principal else f"key:{key_id}"


def principal(actor: str) -> str:
    """The person (or service) an actor string names."""
    if actor.startswith(_PRINCIPAL):
        name, found, _key = actor[len(_PRINCIPAL):].rpartition(_KEY)
        if found and name:
            return name
    return actor


def same_principal(first: str, second: str) -> bool:
    return principal(first) == principal(second)
