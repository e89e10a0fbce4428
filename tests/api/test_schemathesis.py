"""Generated requests over our own OpenAPI document, against a real uvicorn on loopback (the
production loop and parser), real PostgreSQL, projections, a py-evm chain and Redis: no 5xx,
and no response the document does not describe (status, content type, headers, body).

Schemathesis runs as its CLI would: every phase enabled (examples, which skips as the
document has none; coverage, which sends boundary values, wrong types, missing headers and
methods the path lacks, OPTIONS included; fuzzing; stateful sequences along the document's
links), positive and negative requests, and every check it has enabled. The data behind
them is a real executed distribution, so list and detail routes validate real rows too.

One thing no schema can say: a page cursor is valid only if this API issued it (an opaque
keyset position). The document says so, and a positive request carries none (negative ones
do, and tests/api/test_api.py pages with issued cursors); every other refusal of a
schema-valid request is a failure.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
import uvicorn
from redis import Redis
from rq import Queue
from schemathesis import Case, GenerationMode
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import Status, events, from_schema
from schemathesis.hooks import HookContext

from api.app import Wiring, create_app
from api.keys import Role, create_key
from api.reads import ReadModels
from devtools import payout_story as story
from domain.planning import GasModel
from projections.registry import open_all
from projections.runner import Runner, run_forever
from projections.store import views_datastore
from runtime.engines import open_ledger

# Schema-valid requests may still be refused by the ledger's rules or the chain (422), or
# name ids that do not exist (404); never by our own validation (400): the document must
# describe every check the API makes on its input.
ACCEPTED = ["2xx", "401", "403", "404", "409", "422"]
MAX_EXAMPLES = 25
MINIMUM_CALLS = 1_000
CONFIG: dict[str, Any] = {
    "checks": {"enabled": True, "positive_data_acceptance": {"expected-statuses": ACCEPTED}},
    "phases": {"enabled": True},  # examples, coverage, fuzzing, stateful
    "generation": {"mode": "all", "max-examples": MAX_EXAMPLES},
    "continue-on-failure": True,
    "seed": 13,  # a failure found once is found again
}


@dataclass
class Served:
    base_url: str
    key: str


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def served(database_url, chain, redis_url) -> Iterator[Served]:
    """One app for the module, on its own schema, with projections running and data in it."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    ledger = open_ledger(database_url, schema)
    # An executed 30-holder distribution (some failures left), so reads return real rows.
    did = story.snapshotted(ledger, story.import_asset(ledger), 30,
                            gas_model=GasModel(per_leaf=1_000_000, budget=12_000_000))
    story.execute(ledger, did, fail_every=7, retry=False)
    views = views_datastore(database_url, schema)
    runners = [Runner(ledger, p) for p in open_all(views)]
    for runner in runners:
        runner.catch_up()
    stop = threading.Event()
    projecting = threading.Thread(target=run_forever, args=(runners, stop), daemon=True)
    projecting.start()
    redis = Redis.from_url(redis_url)
    app = create_app(Wiring(ledger=ledger, reads=ReadModels(database_url, schema),
                            token_reader=chain.reader,
                            queue=Queue(f"api-{schema}", connection=redis)))
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error",
                                           loop="uvloop", http="httptools"))
    serving = threading.Thread(target=server.run, daemon=True)
    serving.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert serving.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield Served(f"http://127.0.0.1:{port}", create_key(database_url, schema, Role.ADMIN)[1])
    server.should_exit = True
    serving.join(10)
    stop.set()
    projecting.join(10)
    redis.close()
    views.close()
    ledger.close()


def _no_cursor_when_positive(context: HookContext, case: Case) -> Case:
    """A positive request pages from the start: a cursor it made up is one this API never
    issued (a 400, which the document says), not a schema-valid value refused."""
    if case.meta is not None and case.meta.generation.mode is GenerationMode.POSITIVE \
            and case.query:
        case.query.pop("cursor", None)
    return case


def _failures(finished: events.ScenarioFinished) -> Iterator[str]:
    for case_id, checks in finished.recorder.checks.items():
        for check in checks:
            if check.failure_info is not None:
                case = finished.recorder.cases[case_id].value
                yield (f"{finished.phase.name} {check.name}: {check.failure_info.failure.title}"
                       f" on {case.method} {case.formatted_path} query={case.query}"
                       f" headers={case.headers} body={case.body!r:.300}")


@pytest.mark.schemathesis
def test_generated_requests(served):
    config = SchemathesisConfig.from_dict(
        {**CONFIG, "auth": {"openapi": {"ApiKey": {"api_key": served.key}}}})
    loaded = schemathesis.openapi.from_url(f"{served.base_url}/schema/openapi.json",
                                           config=config)
    loaded.hook("map_case")(_no_cursor_when_positive)
    assert len(list(loaded.get_all_operations())) >= 18
    failures: list[str] = []
    errors: list[str] = []
    calls = 0
    phases: set[str] = set()
    for event in from_schema(loaded).execute():
        if isinstance(event, events.ScenarioFinished):
            calls += len(event.recorder.interactions)
            if event.status is not Status.SKIP:
                phases.add(event.phase.name)
            failures.extend(_failures(event))
            if event.status is Status.ERROR:
                errors.append(f"{event.phase.name} {event.label}: an error")
        elif isinstance(event, events.NonFatalError | events.FatalError):
            errors.append(repr(event)[:500])
    print(f"{calls} generated requests over phases {sorted(phases)}")
    assert not errors, "\n".join(errors)
    assert not failures, "\n".join(sorted(set(failures)))
    assert {"COVERAGE", "FUZZING", "STATEFUL_TESTING"} <= phases, phases
    assert calls >= MINIMUM_CALLS, calls
