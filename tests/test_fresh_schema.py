"""The demo starts each run on a clean ledger by dropping its schemas. Pointed by DATABASE_URL
at a database it did not make, it drops only schemas a run of its own created (they carry its
mark); anything else of that name is refused in one line and left as it was."""

from __future__ import annotations

import uuid

import psycopg
import pytest

from devtools.pipeline import THROWAWAY, fresh_schema
from runtime.settings import ConfigurationError


def tables(database_url: str, schema: str) -> list[str]:
    with psycopg.connect(database_url) as conn:
        return [r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
            (schema,))]


def test_only_a_throwaway_schema_is_dropped(database_url):
    schema = f"demo_{uuid.uuid4().hex[:8]}"
    # Someone's ledger already lives under that name, in a database the demo did not start.
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}_views")
        conn.execute(f"CREATE TABLE {schema}_views.precious (n int)")
    # The demo refuses in one line naming the schema, and the table is still there.
    with pytest.raises(ConfigurationError, match=f"refusing to drop schema {schema}_views"
                       ) as refused:
        fresh_schema(database_url, embedded=False, schema=schema)
    assert "\n" not in str(refused.value)
    assert tables(database_url, f"{schema}_views") == ["precious"]
    # Once that schema is gone, the demo makes both afresh, marked as its own ...
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema}_views CASCADE")
    fresh_schema(database_url, embedded=False, schema=schema)
    with psycopg.connect(database_url, autocommit=True) as conn:
        marks = [r[0] for r in conn.execute(
            "SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace"
            " WHERE nspname = ANY(%s)", ([schema, f"{schema}_views"],))]
        assert marks == [THROWAWAY, THROWAWAY]
        conn.execute(f"CREATE TABLE {schema}.last_run (n int)")
    # ... and the next run drops what the last one left there.
    fresh_schema(database_url, embedded=False, schema=schema)
    assert tables(database_url, schema) == []
    # In the embedded PostgreSQL a run started itself, an unmarked schema goes too.
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"COMMENT ON SCHEMA {schema} IS NULL")
        conn.execute(f"CREATE TABLE {schema}.leftover (n int)")
    fresh_schema(database_url, embedded=True, schema=schema)
    assert tables(database_url, schema) == []
    with psycopg.connect(database_url, autocommit=True) as conn:
        for name in (schema, f"{schema}_views"):
            conn.execute(f"DROP SCHEMA {name} CASCADE")
