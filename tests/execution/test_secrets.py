"""No secret reaches the ledger, the read models or the logs, even through error text.

A payout runs with an RPC URL that carries a password and an API key, and a signing key
given in the environment; the node goes down mid-payout so that transient faults (whose
text quotes the URL) are recorded. Then every stored event, every read-model row and every
log line is scanned for the secrets.
"""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import urlparse

import psycopg
from psycopg import sql
from rq import Worker

from chain.signer import ANVIL_DEV_KEY_LOOPBACK_ONLY as ANVIL_KEY_0
from domain.batch import PayoutBatch
from domain.distribution import Status
from projections.registry import open_all
from projections.runner import Runner
from projections.store import views_datastore, views_schema
from tests.execution.conftest import Stack, prepare_distribution, start
from tests.execution.proxy import FlakyProxy
from tests.execution.test_exactly_once import assert_reconciled

PASSWORD, API_KEY = "rpc-pa55word-9f3k", "APIKEY-7c1d0e5b2a"


def test_secrets_never_reach_events_read_models_or_logs(stack: Stack, tmp_path: Path,
                                                         database_url: str, schema: str):
    did = prepare_distribution(stack, holders=60)
    # The worker reaches the node through a URL with credentials, via a proxy we can cut.
    proxy = FlakyProxy(urlparse(stack.env["RPC_URL"]).port or 0)
    proxy.up()
    stack.env["RPC_URL"] = f"http://payout:{PASSWORD}@127.0.0.1:{proxy.port}/?apikey={API_KEY}"
    stack.env["MASS_PAYOUT_PRIVATE_KEY"] = ANVIL_KEY_0  # the signer, given as a secret
    log = tmp_path / "worker.log"
    worker = stack.children.spawn("worker", "worker", log=log)
    stack.children.env = stack.env
    while not Worker.all(connection=stack.services.redis):
        assert worker.poll() is None, log.read_text()
        time.sleep(0.2)
    # The node goes down as the payout starts: the worker records transient faults.
    proxy.down()
    start(stack, did)
    deadline = time.monotonic() + 60
    while not _attempt_failures(stack, did) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _attempt_failures(stack, did), "no transient fault was recorded"
    # The node is back: everyone is paid exactly once.
    proxy.up()
    assert stack.wait_until_done(did) is Status.COMPLETED
    assert_reconciled(stack, did)
    reasons = _attempt_failures(stack, did)
    assert all("RPC failed" in r and "***" in r for r in reasons), reasons
    # The read models are built, as the projector would.
    views = views_datastore(database_url, schema)
    for projection in open_all(views):
        Runner(stack.ledger, projection).catch_up()
    views.close()
    stack.stop_all()
    # Nothing anywhere holds a secret: events, read models, the worker's log.
    secrets = [PASSWORD, API_KEY, ANVIL_KEY_0[2:].lower()]
    stored = _dump(database_url, schema) + _dump(database_url, views_schema(schema))
    stored += log.read_text(errors="replace").lower()
    assert len(stored) > 10_000  # the scan saw the payout
    assert [s for s in secrets if s.lower() in stored] == []


def _attempt_failures(stack: Stack, did: object) -> list[str]:
    return [e.reason for b in stack.ledger.batches(did)  # type: ignore[arg-type]
            for e in stack.ledger.repository.event_store.get(b.id)
            if isinstance(e, PayoutBatch.AttemptFailed)]


def _dump(database_url: str, schema: str) -> str:
    """Every row of every table in `schema`, as lower-case text (event state included)."""
    out: list[str] = []
    with psycopg.connect(database_url) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
            (schema,))]
        for table in tables:
            for row in conn.execute(sql.SQL("SELECT * FROM {}").format(
                    sql.Identifier(schema, table))):
                out.extend(bytes(v).decode("utf-8", "replace") if isinstance(v, bytes | memoryview)
                           else str(v) for v in row)
    return "\n".join(out).lower()
