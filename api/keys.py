"""API keys: stored as salted SHA-256 digests, each with one role and one principal.

A key reads `mpk_<id>_<secret>`; only `<id>`, the salt and the digest are stored, so a
database leak gives no usable key. A key belongs to a principal, the person or service that
answers for what it does: events record `principal:<name>/key:<id>` (`domain.actors`) and
four-eyes rules compare principals, so two keys of one person are still one pair of eyes. A
key made before principals existed has none and is its own principal (`key:<id>`, as its
events already say).

Revoking (or rotating) announces itself on the read models' channel (`projections.store`),
which every API process already listens to for its read cache: each drops the keys it had
verified at once, so a revoked key is refused by the next request everywhere.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from domain.actors import key_actor
from projections.store import channel, views_schema

VIEW = "api_keys"  # the name under which key changes are announced (and cached by the API)
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")  # no `/` or `:`: actors stay parseable


class Role(StrEnum):
    VIEWER = "viewer"
    OPERATOR = "operator"
    APPROVER = "approver"
    ADMIN = "admin"
    AUDITOR = "auditor"  # reads everything and runs audits; changes nothing


READ = frozenset(Role)
OPERATE = frozenset({Role.OPERATOR, Role.ADMIN})
APPROVE = frozenset({Role.APPROVER, Role.ADMIN})
REPORT = frozenset({Role.AUDITOR, Role.ADMIN, Role.OPERATOR})  # tax and issuer reports
ADMIN = frozenset({Role.ADMIN})  # where money may go (sweep accounts), the vault's roles


class KeyRefused(Exception):
    """A key command the store refuses: an unknown or revoked key, a bad principal name."""


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller, as the guard verified it: the key, whose it is, what it may do, until when."""

    key_id: str
    name: str
    role: Role
    principal: str | None = None  # None: a key from before principals, its own principal
    expires_at: datetime | None = None

    @property
    def actor(self) -> str:
        return key_actor(self.principal, self.key_id)


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """What `keys list` shows: never the secret, never the digest."""

    key_id: str
    principal: str
    role: Role
    created_at: datetime
    expires_at: datetime | None
    revoked: bool


def digest(salt: str, secret: str) -> str:
    return hashlib.sha256(f"{salt}:{secret}".encode()).hexdigest()


def parse(token: str) -> tuple[str, str] | None:
    parts = token.split("_")
    if len(parts) != 3 or parts[0] != "mpk" or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


def matches(salt: str, secret: str, stored: str) -> bool:
    return hmac.compare_digest(digest(salt, secret), stored)


def table(schema: str) -> sql.Identifier:
    return sql.Identifier(views_schema(schema), VIEW)


def migration(schema: str) -> sql.Composed:
    """Columns added since the table was first created; safe to run again, and by every API
    process at start (a key without them, or an API started before the CLI, still works)."""
    return sql.SQL("ALTER TABLE IF EXISTS {} ADD COLUMN IF NOT EXISTS principal text,"
                   " ADD COLUMN IF NOT EXISTS expires_at timestamptz").format(table(schema))


def ensure_table(conn: psycopg.Connection[Any], schema: str) -> None:
    conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(
        sql.Identifier(views_schema(schema))))
    conn.execute(sql.SQL(
        "CREATE TABLE IF NOT EXISTS {} (key_id text PRIMARY KEY, name text NOT NULL,"
        " role text NOT NULL, salt text NOT NULL, digest text NOT NULL,"
        " created_at timestamptz NOT NULL DEFAULT now(), revoked boolean NOT NULL DEFAULT false)"
    ).format(table(schema)))
    conn.execute(migration(schema))


def valid_principal(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise KeyRefused(f"principal {name!r}: 1..64 letters, digits, or . _ @ -,"
                         " starting with a letter or digit")
    return name


def create_key(database_url: str, schema: str, role: Role, name: str = "", *,
               principal: str | None = None, expires_at: datetime | None = None,
               ) -> tuple[str, str]:
    """Create a key; return (key id, the key). The key itself is shown once, never stored.

    No principal: the key is its own (as keys made before principals are); the CLI always
    names one."""
    if principal is not None:
        valid_principal(principal)
    with psycopg.connect(database_url, autocommit=True) as conn:
        ensure_table(conn, schema)
        return _insert(conn, schema, role, name or principal or role.value, principal,
                       expires_at)


def _insert(conn: psycopg.Connection[Any], schema: str, role: Role, name: str,
            principal: str | None, expires_at: datetime | None) -> tuple[str, str]:
    key_id, secret, salt = secrets.token_hex(6), secrets.token_urlsafe(24), secrets.token_hex(8)
    secret = secret.replace("_", "-")
    conn.execute(sql.SQL("INSERT INTO {} (key_id, name, role, salt, digest, principal,"
                         " expires_at) VALUES (%s, %s, %s, %s, %s, %s, %s)").format(
        table(schema)),
        (key_id, name, role.value, salt, digest(salt, secret), principal, expires_at))
    return key_id, f"mpk_{key_id}_{secret}"


def _announce(conn: psycopg.Connection[Any], schema: str) -> None:
    """Delivered on commit: every API process drops the keys it verified."""
    conn.execute("SELECT pg_notify(%s, %s)", (channel(views_schema(schema)), f"{VIEW}:0"))


def revoke_key(database_url: str, schema: str, key_id: str) -> bool:
    """False when there is no such key, or it was already revoked."""
    with psycopg.connect(database_url) as conn, conn.transaction():
        ensure_table(conn, schema)
        cur = conn.execute(sql.SQL("UPDATE {} SET revoked = true WHERE key_id = %s"
                                   " AND NOT revoked").format(table(schema)), (key_id,))
        if cur.rowcount != 1:
            return False
        _announce(conn, schema)
        return True


def rotate_key(database_url: str, schema: str, key_id: str) -> tuple[str, str]:
    """Replace an active key: a new one for the same principal and role, the old one revoked,
    in one transaction. Return (new key id, the new key).

    An expiring key's successor gets the same lifetime, counted from now. A key without a
    principal hands its own identity (`key:<id>`) on as the successor's principal, so the
    rotated key is still the same person to the four-eyes rule."""
    with psycopg.connect(database_url, row_factory=dict_row) as conn, conn.transaction():
        ensure_table(conn, schema)
        old = conn.execute(sql.SQL(
            "SELECT name, role, coalesce(principal, 'key:' || key_id) AS principal,"
            " now() + (expires_at - created_at) AS expires_at FROM {}"
            " WHERE key_id = %s AND NOT revoked FOR UPDATE").format(table(schema)),
            (key_id,)).fetchone()
        if old is None:
            raise KeyRefused(f"no active key {key_id}")
        conn.execute(sql.SQL("UPDATE {} SET revoked = true WHERE key_id = %s").format(
            table(schema)), (key_id,))
        made = _insert(conn, schema, Role(old["role"]), old["name"],
                       old["principal"], old["expires_at"])
        _announce(conn, schema)
        return made


def list_keys(database_url: str, schema: str) -> list[KeyInfo]:
    with psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as conn:
        ensure_table(conn, schema)
        rows = conn.execute(sql.SQL(
            "SELECT key_id, coalesce(principal, 'key:' || key_id) AS principal, role,"
            " created_at, expires_at, revoked FROM {} ORDER BY created_at, key_id").format(
            table(schema))).fetchall()
    return [KeyInfo(r["key_id"], r["principal"], Role(r["role"]), r["created_at"],
                    r["expires_at"], r["revoked"]) for r in rows]
