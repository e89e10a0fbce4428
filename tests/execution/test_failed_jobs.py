"""Jobs RQ failed for good (their retries spent through a PostgreSQL outage longer than RQ's
~112 s) hold their deterministic ids; the supervisor still gets the work done (app.owed_jobs).

The failure is real: RQ runs the job in this process against a ledger whose connection pool
is closed (the database gone for this worker), with RQ's retries already spent."""

from __future__ import annotations

from datetime import timedelta

import pytest
from rq import Queue
from rq.job import Job, JobStatus
from rq.worker import SimpleWorker

from app import jobs
from app.executor import BatchExecutor
from app.supervisor import Supervisor
from domain.batch import BatchStatus
from domain.distribution import Status
from domain.planning import GasModel
from runtime.engines import open_ledger
from tests.execution.conftest import Stack, prepare_distribution, start
from tests.execution.test_exactly_once import assert_reconciled

pytestmark = pytest.mark.anvil


def fail_for_good(stack: Stack, queue: Queue, job_id: str,
                  monkeypatch: pytest.MonkeyPatch) -> Job:
    """Run the queued job on a worker whose database is gone, its retries already spent."""
    job = Job.fetch(job_id, connection=queue.connection)
    job.retries_left = 0  # RQ's five retries (2 + 5 + 15 + 30 + 60 s) ran out meanwhile
    job.save()
    gone = open_ledger(stack.env["DATABASE_URL"], stack.env["MASS_PAYOUT_SCHEMA"])
    gone.close()
    monkeypatch.setattr(jobs, "_executor", BatchExecutor(
        gone, stack.services.gateway, stack.services.signer, GasModel()))
    monkeypatch.setattr(jobs, "_queue", queue)
    SimpleWorker([queue], connection=queue.connection).work(burst=True)
    assert job.get_status() == JobStatus.FAILED
    return job


def test_a_batch_whose_job_failed_through_an_outage_is_queued_again_then_blocked_then_paid(
        stack: Stack, monkeypatch: pytest.MonkeyPatch):
    # A one-batch distribution starts: its job is queued under the batch's deterministic id.
    did = prepare_distribution(stack, holders=30)
    start(stack, did)
    batch = next(stack.ledger.batches(did))
    queue = stack.services.queue
    job_id = jobs.job_id(batch.id)
    # PostgreSQL stays away longer than RQ's retries: RQ fails the job for good.
    fail_for_good(stack, queue, job_id, monkeypatch)
    supervisor = Supervisor(stack.ledger, stack.services.gateway, queue, grace=timedelta(0),
                            revive_after=timedelta(0), max_revivals=1)
    # The supervisor queues the failed job again (its id no longer makes that a no-op).
    assert supervisor.run_once()["revived"] == 1
    assert Job.fetch(job_id, connection=queue.connection).get_status() == JobStatus.QUEUED
    # The outage goes on past the bound: the batch is BLOCKED with the job's last error,
    # where the dashboard shows it to an operator, and is left alone from then on.
    fail_for_good(stack, queue, job_id, monkeypatch)
    assert supervisor.run_once()["gave_up"] == 1
    blocked = stack.ledger.get_batch_by_id(batch.id)
    assert blocked.status is BatchStatus.BLOCKED
    assert blocked.rejection is not None
    assert job_id in blocked.rejection and "DatabaseUnavailable" in blocked.rejection
    assert not any(supervisor.run_once().values())
    # The database is back; the operator retries: a new generation, a fresh job, paid once.
    monkeypatch.undo()
    stack.ledger.retry_distribution(did, actor="operator", reason="database back")
    assert supervisor.run_once()["queued"] == 1
    monkeypatch.setattr(jobs, "_executor", BatchExecutor(
        stack.ledger, stack.services.gateway, stack.services.signer, GasModel()))
    monkeypatch.setattr(jobs, "_queue", queue)
    SimpleWorker([queue], connection=queue.connection).work(burst=True)
    assert stack.wait_until_done(did) is Status.COMPLETED
    assert_reconciled(stack, did)
