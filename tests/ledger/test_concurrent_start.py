"""Processes that start together (workers, ingestor, supervisor) all open the ledger."""

from __future__ import annotations

import threading

from runtime.engines import open_ledger


def test_many_processes_opening_the_same_new_store_at_once_all_succeed(database_url, schema):
    # Eight openers race on a schema that does not exist yet, as a demo's children do.
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def open_one():
        barrier.wait()
        try:
            open_ledger(database_url, schema).close()
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=open_one) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
