"""Retries, funds arriving and blocked batches in the read models: after every step they say
what the aggregates say, however the runner cuts the events into transactions."""

from __future__ import annotations

from datetime import timedelta

from devtools import payout_story as story
from projections.registry import PROJECTIONS, open_projection
from projections.runner import Runner
from tests.projections.stories import (
    NOW,
    assert_views_match_ledger,
    retried_twice,
    select,
    waited_and_blocked,
)


def catch_up_all(ledger, datastore, suffix="", **sizes):
    for cls in PROJECTIONS.values():
        Runner(ledger, open_projection(datastore, cls, suffix), **sizes).catch_up()


def test_a_failed_distribution_retried_twice_is_exact_at_every_step(
        ledger, views, database_url, schema):
    seen = {}

    def check(did, step):
        catch_up_all(ledger, views)
        assert_views_match_ledger(ledger, did, database_url, schema, step)
        (row,) = _distribution(database_url, schema, did)
        seen[step] = (row["status"], row["paid_count"], row["failed_count"])

    # 29 eligible holders in 3 batches; leaves 6, 13, 20 and 27 fail.
    did = retried_twice(ledger, story.import_asset(ledger), check)
    assert seen == {
        "first run: some failed": ("COMPLETED_WITH_FAILURES", 25, 4),
        # All four go out again: executing, and no longer counted as failed.
        "every failure retried": ("EXECUTING", 25, 0),
        # Two are paid, two fail again: completed with failures once more.
        "two fail again": ("COMPLETED_WITH_FAILURES", 27, 2),
        "one retried again": ("EXECUTING", 27, 1),
        "paid at last": ("COMPLETED_WITH_FAILURES", 28, 1),
        # The last one claims: every holder is paid.
        "the last one claims": ("COMPLETED", 29, 0),
    }
    (row,) = _distribution(database_url, schema, did)
    totals = ledger.get_distribution(did).totals
    assert row["amount_paid"] == totals.net and row["finished_at"] is not None


def test_a_retried_holder_is_pending_and_keeps_its_last_failure(
        ledger, views, database_url, schema):
    def check(did, step):
        catch_up_all(ledger, views)  # each step its own transaction: rows change by UPDATE
        if step == "one retried again":
            holders = {r["leaf_index"]: r for r in views_of_holders(did)}
            # Leaf 6 goes out a third time: pending, still showing why it failed last.
            assert (holders[6]["status"], holders[6]["failure_reason"],
                    holders[6]["attempts"]) == ("PENDING", "RECIPIENT_BLOCKED", 2)
            assert holders[13]["status"] == "FAILED"  # not retried this time
            batch = _batches(database_url, schema, did)[0]
            assert (batch["status"], batch["retries"]) == ("PLANNED", 2)

    def views_of_holders(did):
        return select(database_url, schema, "SELECT * FROM {v}.distribution_holders"
                     " WHERE distribution_id = %s", did)

    did = retried_twice(ledger, story.import_asset(ledger), check)
    catch_up_all(ledger, views)
    leaf = next(r for r in views_of_holders(did) if r["leaf_index"] == 6)
    assert (leaf["status"], leaf["failure_reason"], leaf["attempts"]) == ("PAID", None, 3)


def test_funds_arriving_and_blocked_batches_are_exact_at_every_step(
        ledger, views, database_url, schema):
    seen = {}

    def check(did, step):
        catch_up_all(ledger, views)
        assert_views_match_ledger(ledger, did, database_url, schema, step)
        (d,) = _distribution(database_url, schema, did)
        first, second = _batches(database_url, schema, did)[:2]
        seen[step] = (d["status"], d["started_at"] is not None, d["funds_needed"],
                      d["funds_available"], first["status"], first["transient_failures"],
                      first["retry_at"], first["rejection"], second["status"],
                      second["rejection"], first["retries"])

    waited_and_blocked(ledger, story.import_asset(ledger), check)
    waiting = ("WAITING_FOR_FUNDS", False, 1_000, 10)
    # Funds arrived: executing (it never had an ExecutionStarted), the last check kept.
    executing = ("EXECUTING", True, 1_000, 2_000)
    assert seen == {
        "waiting for funds": (*waiting, "PLANNED", 0, None, None, "PLANNED", None, 0),
        "funds arrived": (*executing, "PLANNED", 0, None, None, "PLANNED", None, 0),
        "transient fault, retry in 2s": (*executing, "PLANNED", 1, NOW + timedelta(seconds=2),
                                         None, "PLANNED", None, 0),
        "transient fault, retry in 4s": (*executing, "PLANNED", 2, NOW + timedelta(seconds=4),
                                         None, "PLANNED", None, 0),
        "gave up": (*executing, "BLOCKED", 3, None, "gave up after 3 attempts: RPC timeout",
                    "PLANNED", None, 0),
        "submission refused": (*executing, "BLOCKED", 3, None,
                               "gave up after 3 attempts: RPC timeout", "BLOCKED",
                               "EnforcedPause()", 0),
        # An operator unblocks both: planned again, the faults and reasons cleared.
        "unblocked": (*executing, "PLANNED", 0, None, None, "PLANNED", None, 1),
        "paid": ("COMPLETED", True, 1_000, 2_000, "SETTLED", 0, None, None, "SETTLED", None, 1),
    }


def test_how_the_runner_cuts_the_events_into_transactions_changes_nothing(
        ledger, views, database_url, schema):
    asset = story.import_asset(ledger)

    def midway(did, step):
        if step == "first run: some failed":  # failed rows exist before the retries arrive
            catch_up_all(ledger, views, "_two")

    did = retried_twice(ledger, asset, midway)
    late = waited_and_blocked(ledger, asset)
    # One transaction for everything: fail → retry → fail → retry → paid of a leaf coalesce.
    whole = {"max_events": 10**6, "page": 10**5, "max_seconds": 600}
    catch_up_all(ledger, views, "_one", **whole)
    catch_up_all(ledger, views, "_two", **whole)
    catch_up_all(ledger, views, "_tiny", max_events=1, page=1)  # one event per transaction
    catch_up_all(ledger, views, max_events=40, page=25)
    for d in (did, late):
        assert_views_match_ledger(ledger, d, database_url, schema)
    for cls in PROJECTIONS.values():
        for table in cls.tables:
            live = _all(database_url, schema, table)
            for suffix in ("_one", "_two", "_tiny"):
                assert _all(database_url, schema, table + suffix) == live, (table, suffix)


def _all(database_url, schema, table):
    return sorted((tuple(r.values()) for r in select(
        database_url, schema, f'SELECT * FROM {{v}}."{table}"')), key=repr)


def _distribution(database_url, schema, did):
    return select(database_url, schema,
                 "SELECT * FROM {v}.distributions WHERE distribution_id = %s", did)


def _batches(database_url, schema, did):
    return select(database_url, schema,
                 "SELECT * FROM {v}.batches WHERE distribution_id = %s ORDER BY number", did)
