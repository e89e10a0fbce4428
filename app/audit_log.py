"""Tamper evidence: a hash chain over the stored events, and its verification.

Each stored event gets a link, `sha256(previous link || event bytes)`, where the event bytes
are its position (notification id), originator id, version, topic and state, each
length-prefixed (`event_bytes`); the first link follows 32 zero bytes. Links live in
`<schema>.event_chain`, the last one in `<schema>.event_chain_head`.

The links are written by PostgreSQL itself, in the inserting transaction: a statement-level
trigger on the events table. Before the insert it locks the head row, so appends are
serialised from the moment notification ids are drawn until commit (the library's
stored-function insert path takes no table lock: without this, two saves could draw ids in
one order and commit in the other). After the insert it links the new rows in id order with
a running aggregate (one set-based statement, not a loop per row) and moves the head. A save
that rolls back takes its links with it.

`install_chain` runs at every ledger open (under the setup lock of `runtime.engines`): a
no-op once the current version is installed; on a store made before the chain existed it
links every event already stored, in the same transaction that installs the trigger, with
the events table locked against inserts.

`verify_chain` recomputes every link in Python (independently of the SQL that wrote them)
and names the first position where the stored log and its chain disagree. It detects an
edited event, a deleted one (with or without its link), an event recorded with the trigger
disabled, and events deleted from the end (the head remembers the last position). Someone
who can rewrite both the events and every later link is not detected by the chain alone:
anchor the head elsewhere (print it, publish it) to catch that.
"""

from __future__ import annotations

import hashlib
import struct
import time
from dataclasses import dataclass
from uuid import UUID

from psycopg import sql

from app.audit import events_table, recorder_of
from app.ledger import PayoutLedger

VERSION = 1
STAMP = f"event hash chain {VERSION}"
GENESIS = bytes(32)
CHAIN, HEAD = "event_chain", "event_chain_head"


def event_bytes(position: int, originator_id: UUID, version: int, topic: str | None,
                state: bytes | None) -> bytes:
    """What a link hashes of one stored event (the same bytes as the SQL `event_bytes`)."""
    t = None if topic is None else topic.encode()
    return b"".join((
        struct.pack(">q", position), originator_id.bytes, struct.pack(">q", version),
        struct.pack(">i", -1 if t is None else len(t)), t or b"",
        struct.pack(">i", -1 if state is None else len(state)), state or b""))


def link(previous: bytes, data: bytes) -> bytes:
    return hashlib.sha256(previous + data).digest()


def _ddl(schema: str, events: sql.Identifier) -> list[sql.Composed]:
    names = {
        "schema": sql.Identifier(schema), "events": events,
        "chain": sql.Identifier(schema, CHAIN), "head": sql.Identifier(schema, HEAD),
        "bytes": sql.Identifier(schema, "event_bytes"),
        "step": sql.Identifier(schema, "event_chain_step"),
        "agg": sql.Identifier(schema, "event_chain_link"),
        "lock": sql.Identifier(schema, "event_chain_lock"),
        "append": sql.Identifier(schema, "event_chain_append"),
        "genesis": sql.Literal(GENESIS),
    }
    statements = [
        "CREATE TABLE IF NOT EXISTS {chain} (notification_id bigint PRIMARY KEY,"
        " link bytea NOT NULL)",
        "CREATE TABLE IF NOT EXISTS {head} (only_row boolean PRIMARY KEY DEFAULT true"
        " CHECK (only_row), position bigint NOT NULL, link bytea NOT NULL)",
        "CREATE OR REPLACE FUNCTION {bytes}(p bigint, o uuid, v bigint, t text, s bytea)"
        " RETURNS bytea LANGUAGE sql IMMUTABLE AS $$ SELECT int8send(p) || uuid_send(o)"
        " || int8send(v) || int4send(coalesce(octet_length(convert_to(t, 'UTF8')), -1))"
        " || coalesce(convert_to(t, 'UTF8'), ''::bytea)"
        " || int4send(coalesce(octet_length(s), -1)) || coalesce(s, ''::bytea) $$",
        "CREATE OR REPLACE FUNCTION {step}(acc bytea, previous bytea, item bytea)"
        " RETURNS bytea LANGUAGE sql IMMUTABLE AS"
        " $$ SELECT sha256(coalesce(acc, previous) || item) $$",
        "CREATE OR REPLACE AGGREGATE {agg}(bytea, bytea) (SFUNC = {step}, STYPE = bytea)",
        "CREATE OR REPLACE FUNCTION {lock}() RETURNS trigger LANGUAGE plpgsql AS $$"
        " BEGIN PERFORM 1 FROM {head} FOR UPDATE; RETURN NULL; END $$",
        "CREATE OR REPLACE FUNCTION {append}() RETURNS trigger LANGUAGE plpgsql AS $$"
        " BEGIN"
        " INSERT INTO {chain} (notification_id, link)"
        "  SELECT n.notification_id, {agg}(h.link, {bytes}(n.notification_id, n.originator_id,"
        "   n.originator_version, n.topic, n.state)) OVER (ORDER BY n.notification_id)"
        "  FROM inserted n CROSS JOIN {head} h;"
        " UPDATE {head} SET position = c.notification_id, link = c.link FROM"
        "  (SELECT notification_id, link FROM {chain} ORDER BY notification_id DESC LIMIT 1) c"
        "  WHERE c.notification_id > {head}.position;"
        " RETURN NULL;"
        " END $$",
    ]
    return [sql.SQL(s).format(**names) for s in statements]


def _triggers(events: sql.Identifier, schema: str) -> list[sql.Composed]:
    return [
        sql.SQL("CREATE OR REPLACE TRIGGER event_chain_lock BEFORE INSERT ON {}"
                " FOR EACH STATEMENT EXECUTE FUNCTION {}()").format(
            events, sql.Identifier(schema, "event_chain_lock")),
        sql.SQL("CREATE OR REPLACE TRIGGER event_chain_append AFTER INSERT ON {}"
                " REFERENCING NEW TABLE AS inserted"
                " FOR EACH STATEMENT EXECUTE FUNCTION {}()").format(
            events, sql.Identifier(schema, "event_chain_append")),
    ]


def install_chain(ledger: PayoutLedger) -> int:
    """Install (or upgrade) the chain; link events stored before it. Returns how many
    existing events it linked (0 once installed). Callers serialise it (runtime.engines)."""
    recorder = recorder_of(ledger)
    schema, events = recorder.datastore.schema, events_table(ledger)
    head = sql.Identifier(schema, HEAD)
    with recorder.datastore.transaction(commit=True) as cur:
        cur.execute("SELECT obj_description(to_regclass(%s), 'pg_class') AS stamp",
                    (f'"{schema}"."{HEAD}"',))
        row = cur.fetchone()
        if row is not None and row["stamp"] == STAMP:
            return 0
        cur.execute(sql.SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(events))
        for statement in _ddl(schema, events):
            cur.execute(statement)
        cur.execute(sql.SQL("SELECT 1 FROM {}").format(head))
        linked = 0
        if cur.fetchone() is None:  # a store from before the chain: link what it holds
            cur.execute(sql.SQL("INSERT INTO {} (position, link) VALUES (0, %s)").format(head),
                        (GENESIS,))
            cur.execute(sql.SQL(
                "INSERT INTO {chain} (notification_id, link)"
                " SELECT n.notification_id, {agg}(h.link, {bytes}(n.notification_id,"
                " n.originator_id, n.originator_version, n.topic, n.state))"
                " OVER (ORDER BY n.notification_id) FROM {events} n CROSS JOIN {head} h"
                " ON CONFLICT (notification_id) DO NOTHING").format(
                chain=sql.Identifier(schema, CHAIN), events=events, head=head,
                agg=sql.Identifier(schema, "event_chain_link"),
                bytes=sql.Identifier(schema, "event_bytes")))
            linked = cur.rowcount
            cur.execute(sql.SQL(
                "UPDATE {head} SET position = c.notification_id, link = c.link FROM"
                " (SELECT notification_id, link FROM {chain} ORDER BY notification_id DESC"
                " LIMIT 1) c").format(head=head, chain=sql.Identifier(schema, CHAIN)))
        for statement in _triggers(events, schema):
            cur.execute(statement)
        cur.execute(sql.SQL("COMMENT ON TABLE {} IS {}").format(head, sql.Literal(STAMP)))
    return max(linked, 0)


@dataclass(frozen=True, slots=True)
class ChainCheck:
    """What `verify_chain` found. `broken_at` is the first position that fails, or None."""

    events: int
    last_position: int
    head_position: int
    head_link: str  # hex: publish it to anchor the log elsewhere
    seconds: float
    broken_at: int | None = None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.broken_at is None


def verify_chain(ledger: PayoutLedger, *, fetch: int = 2_000) -> ChainCheck:
    """Recompute every link from the stored events, in position order (a server-side
    cursor: the log is streamed, never held in memory). Stops at the first break."""
    started = time.perf_counter()
    recorder = recorder_of(ledger)
    schema = recorder.datastore.schema
    query = sql.SQL(
        "SELECT coalesce(e.notification_id, c.notification_id) AS position,"
        " e.notification_id IS NOT NULL AS stored, e.originator_id, e.originator_version,"
        " e.topic, e.state, c.link FROM {events} e FULL JOIN {chain} c"
        " ON c.notification_id = e.notification_id ORDER BY 1").format(
        events=events_table(ledger), chain=sql.Identifier(schema, CHAIN))
    previous, count, last = GENESIS, 0, 0
    broken: tuple[int, str] | None = None
    with recorder.datastore.get_connection() as conn, conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        row = conn.execute(sql.SQL("SELECT position, link FROM {}").format(
            sql.Identifier(schema, HEAD))).fetchone()
        if row is None:
            raise RuntimeError("the hash chain is not installed (open the ledger once)")
        head_position, head_link = int(row["position"]), bytes(row["link"])
        with conn.cursor(name="verify_chain") as cur:
            cur.itersize = fetch
            cur.execute(query)
            for r in cur:
                position = int(r["position"])
                if not r["stored"]:
                    broken = (position, "the event was deleted (its link remains)")
                    break
                if r["link"] is None:
                    broken = (position, "the event has no link: recorded outside the chain")
                    break
                data = event_bytes(position, r["originator_id"], int(r["originator_version"]),
                                   r["topic"], None if r["state"] is None else bytes(r["state"]))
                expected = link(previous, data)
                if bytes(r["link"]) != expected:
                    broken = (position, "its link does not match: the event was changed after"
                              " it was recorded, or one before it was removed with its link")
                    break
                previous, count, last = expected, count + 1, position
    if broken is None and (head_position, head_link) != (last, previous if count else GENESIS):
        broken = (last + 1 if head_position > last else head_position,
                  f"the head says the log ends at {head_position}, it ends at {last}:"
                  " events were deleted from its end" if head_position > last
                  else "the head does not match the last link")
    return ChainCheck(events=count, last_position=last, head_position=head_position,
                      head_link=head_link.hex(), seconds=time.perf_counter() - started,
                      broken_at=broken[0] if broken else None,
                      reason=broken[1] if broken else None)

