"""Panel sessions: a random cookie backed by an API key, stored server-side.

Signing in proves an API key once; the browser then holds only a random session id (HttpOnly,
SameSite=Strict), never the key. The database keeps the id's SHA-256 digest, the key it stands
for, an expiry and a CSRF token, so any API process can check a session, signing out ends it
everywhere, and a leaked table gives no usable session. Every check joins the key's row: a
session lives no longer than its key (revoked or expired, the session is refused at once).

Checks go through the read models' key cache (`api.keys.VIEW`): revoking, rotating and signing
out announce themselves on the channel that cache listens to, so every process forgets the
sessions it had verified when the change commits (the same path as `api.auth`).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg
from psycopg import sql

from api.keys import VIEW, Principal, Role
from api.keys import table as keys_table
from api.reads import ReadModels
from projections.store import channel

COOKIE = "mp_session"
LIFETIME = timedelta(hours=12)  # a working day; signing in again costs the key once more
NAME = "panel_sessions"


@dataclass(frozen=True, slots=True)
class Session:
    principal: Principal
    csrf: str  # sent back by every form and htmx request (X-CSRF-Token)
    expires_at: datetime

    def accepts(self, token: str | None) -> bool:
        return token is not None and hmac.compare_digest(token, self.csrf)


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def _table(reads: ReadModels) -> sql.Identifier:
    return reads.table(NAME)


async def start(reads: ReadModels, principal: Principal) -> tuple[str, Session]:
    """A new session for a verified key: (the cookie's value, the session)."""
    session_id = secrets.token_urlsafe(32)
    expires = datetime.now(UTC) + LIFETIME
    if principal.expires_at is not None:
        expires = min(expires, principal.expires_at)
    csrf = secrets.token_urlsafe(24)

    async def insert(conn: psycopg.AsyncConnection[object]) -> None:
        await conn.execute(sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} (digest text PRIMARY KEY, key_id text NOT NULL,"
            " csrf text NOT NULL, created_at timestamptz NOT NULL DEFAULT now(),"
            " expires_at timestamptz NOT NULL)").format(_table(reads)))
        await conn.execute(sql.SQL("DELETE FROM {} WHERE expires_at < now()").format(
            _table(reads)))  # housekeeping: expired sessions go as new ones come
        await conn.execute(sql.SQL(
            "INSERT INTO {} (digest, key_id, csrf, expires_at) VALUES (%s, %s, %s, %s)").format(
            _table(reads)), (_digest(session_id), principal.key_id, csrf, expires))
    await reads.run(insert)
    return session_id, Session(principal, csrf, expires)


async def find(reads: ReadModels, session_id: str | None) -> Session | None:
    """The live session behind a cookie, or None (unknown, ended, expired, key revoked)."""
    if not session_id or len(session_id) > 128:
        return None
    digest = _digest(session_id)
    found = await reads.cached(VIEW, ("session", digest), lambda: _load(reads, digest))
    now = datetime.now(UTC)
    if found is None or found.expires_at <= now or (
            found.principal.expires_at is not None and found.principal.expires_at <= now):
        return None
    return found


async def _load(reads: ReadModels, digest: str) -> Session | None:
    try:
        row = await reads.one(sql.SQL(
            "SELECT k.key_id, k.name, k.role, k.principal, k.expires_at AS key_expires,"
            " s.csrf, s.expires_at FROM {} s JOIN {} k USING (key_id)"
            " WHERE s.digest = %s AND NOT k.revoked").format(
            _table(reads), keys_table(reads.schema)), (digest,))
    except psycopg.errors.UndefinedTable:
        return None  # nobody has signed in yet
    if row is None:
        return None
    principal = Principal(row["key_id"], row["name"], Role(row["role"]), row["principal"],
                          row["key_expires"])
    return Session(principal, row["csrf"], row["expires_at"])


async def end(reads: ReadModels, session_id: str | None) -> None:
    """Sign out: the session is gone in every process once this commits."""
    if not session_id:
        return

    async def delete(conn: psycopg.AsyncConnection[object]) -> None:
        async with conn.transaction():
            await conn.execute(sql.SQL("DELETE FROM {} WHERE digest = %s").format(
                _table(reads)), (_digest(session_id),))
            await conn.execute("SELECT pg_notify(%s, %s)", (channel(reads.views), f"{VIEW}:0"))
    try:
        await reads.run(delete)
    except psycopg.errors.UndefinedTable:
        return  # nobody has signed in yet: nothing to end
    reads.forget(VIEW)  # this process at once; the others when the NOTIFY reaches them
