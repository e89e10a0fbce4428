"""The gateway's nonce lock on a real PostgreSQL, and its raw reads on anvil."""

from __future__ import annotations

import hashlib

import psycopg
import pytest
from web3 import Web3

from chain.gateway import EvmGateway

pytestmark = pytest.mark.anvil

SIGNER = "0x00000000000000000000000000000000000000aa"


def lock_key(gateway: EvmGateway) -> int:
    digest = hashlib.sha256(f"nonce:{gateway.chain_id}:{SIGNER}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def holder_of(database_url: str, key: int) -> int | None:
    """The server process holding the advisory lock `key` (split in two 32-bit halves)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND classid::bigint = %s AND objid::bigint = %s",
            ((key >> 32) & 0xFFFF_FFFF, key & 0xFFFF_FFFF)).fetchone()
    return int(row[0]) if row else None


def test_the_nonce_lock_keeps_its_connection_and_reconnects_when_it_was_dropped(
        anvil_w3: Web3, database_url: str):
    gateway = EvmGateway(anvil_w3, expected_chain_id=None, database_url=database_url)
    key = lock_key(gateway)
    try:
        # Two batches in a row take the lock on the same server session.
        with gateway.nonce_lock(SIGNER):
            first = holder_of(database_url, key)
        with gateway.nonce_lock(SIGNER):
            assert holder_of(database_url, key) == first is not None
        # Released in between: nothing holds it now.
        assert holder_of(database_url, key) is None
        # The server drops the idle session (a restart, an idle timeout) ...
        with psycopg.connect(database_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (first,))
        # ... and the next batch still gets the lock, on a new session.
        with gateway.nonce_lock(SIGNER):
            again = holder_of(database_url, key)
            assert again is not None and again != first
        assert holder_of(database_url, key) is None
    finally:
        gateway.close()


def test_raw_reads_at_a_past_block_see_that_block(anvil_w3: Web3, database_url: str):
    from chain.contracts import deploy_stablecoin, send

    gateway = EvmGateway(anvil_w3, expected_chain_id=None, database_url=database_url)
    admin, holder = anvil_w3.eth.accounts[0], anvil_w3.eth.accounts[1]
    usd = deploy_stablecoin(anvil_w3, owner=admin)
    send(usd.functions.mint(holder, 5), admin)
    before = gateway.block_number()
    send(usd.functions.mint(holder, 7), admin)
    # The newest block's deposit is seen at the head, not one block below it.
    assert gateway.token_balance(usd.address, holder, before) == 5
    assert gateway.token_balance(usd.address, holder) == 12
    gateway.close()
