"""API keys: stored as salted SHA-256 digests, each with one role.

A key reads `mpk_<id>_<secret>`; only `<id>`, the salt and the digest are stored, so a
database leak gives no usable key. The key's id is the actor recorded in ledger events.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from enum import StrEnum

import psycopg
from psycopg import sql

from projections.store import views_schema


class Role(StrEnum):
    VIEWER = "viewer"
    OPERATOR = "operator"
    APPROVER = "approver"
    ADMIN = "admin"


READ = frozenset(Role)
OPERATE = frozenset({Role.OPERATOR, Role.ADMIN})
APPROVE = frozenset({Role.APPROVER, Role.ADMIN})


@dataclass(frozen=True, slots=True)
class Principal:
    key_id: str
    name: str
    role: Role

    @property
    def actor(self) -> str:
        return f"key:{self.key_id}"


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
    return sql.Identifier(views_schema(schema), "api_keys")


def ensure_table(conn: psycopg.Connection[object], schema: str) -> None:
    conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(
        sql.Identifier(views_schema(schema))))
    conn.execute(sql.SQL(
        "CREATE TABLE IF NOT EXISTS {} (key_id text PRIMARY KEY, name text NOT NULL,"
        " role text NOT NULL, salt text NOT NULL, digest text NOT NULL,"
        " created_at timestamptz NOT NULL DEFAULT now(), revoked boolean NOT NULL DEFAULT false)"
    ).format(table(schema)))


def create_key(database_url: str, schema: str, role: Role, name: str = "") -> tuple[str, str]:
    """Create a key; return (key id, the key). The key itself is shown once, never stored."""
    key_id, secret, salt = secrets.token_hex(6), secrets.token_urlsafe(24), secrets.token_hex(8)
    secret = secret.replace("_", "-")
    with psycopg.connect(database_url, autocommit=True) as conn:
        ensure_table(conn, schema)
        conn.execute(sql.SQL("INSERT INTO {} (key_id, name, role, salt, digest)"
                             " VALUES (%s, %s, %s, %s, %s)").format(table(schema)),
                     (key_id, name or role.value, role.value, salt, digest(salt, secret)))
    return key_id, f"mpk_{key_id}_{secret}"


def revoke_key(database_url: str, schema: str, key_id: str) -> bool:
    """False when there is no such key, or it was already revoked."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        cur = conn.execute(sql.SQL("UPDATE {} SET revoked = true WHERE key_id = %s"
                                   " AND NOT revoked").format(table(schema)), (key_id,))
        return cur.rowcount == 1
