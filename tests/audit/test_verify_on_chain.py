"""`audit verify` against a real chain (anvil): a distribution paid by a real worker process
agrees with the vault holder by holder; a payment erased from the ledger does not."""

from __future__ import annotations

import json

import psycopg
from psycopg import sql
from typer.testing import CliRunner

from app.audit_verify import audit_distribution
from mass_payout.cli import app as cli
from runtime.bootstrap import web3_for
from runtime.engines import open_ledger
from tests.execution.conftest import prepare_distribution, stack, start  # noqa: F401


def verify(stack, *args: str) -> tuple[int, dict]:  # noqa: F811
    result = CliRunner().invoke(cli, ["audit", "verify", "--json", *args], env=stack.env)
    return result.exit_code, json.loads(result.output.strip().splitlines()[-1])


def test_the_ledger_agrees_with_the_vault_until_a_payment_is_erased(stack, database_url,  # noqa: F811
                                                                    schema):
    # A distribution to 25 holders, one of them blocklisted, paid by a real worker
    did = prepare_distribution(stack, holders=25, blocked=[4])
    start(stack, did)
    stack.spawn("worker")
    stack.wait_until_done(did)
    # audit verify checks it against the chain (RPC_URL is set) and finds it whole
    code, report = verify(stack)
    assert code == 0, report
    assert report["chain_checked"] is True
    (row,) = report["distributions"]
    assert row["ok"] and row["chain_checked"]
    assert row["chain_paid"] == row["ledger_paid"] > 0
    # Someone erases one paid leaf from a stored LeavesPaid event
    events = sql.Identifier(schema, "payoutledger_events")
    with psycopg.connect(database_url, autocommit=True) as conn:
        position, state = conn.execute(sql.SQL(
            "SELECT notification_id, state FROM {} WHERE topic LIKE %s"
            " ORDER BY notification_id LIMIT 1").format(events), ("%LeavesPaid",)).fetchone()
        body = json.loads(bytes(state))
        erased = body["leaf_indices"].pop(0)
        conn.execute(sql.SQL("UPDATE {} SET state = %s WHERE notification_id = %s").format(
            events), (json.dumps(body, separators=(",", ":")).encode(), position))
    # A fresh ledger now disagrees with the vault's bitmap on exactly that leaf
    fresh = open_ledger(database_url, schema)
    try:
        audit = audit_distribution(fresh, did, web3_for(stack.env["RPC_URL"]))
    finally:
        fresh.close()
    assert not audit.ok
    assert any(d.startswith(f"chain: leaf {erased} ") and "vault bitmap set" in d
               for d in audit.differences), audit.differences
    code, report = verify(stack, "--distribution", str(did))
    assert code == 1
    assert report["ok"] is False
