"""Generated requests over our own OpenAPI document, against a real uvicorn on loopback (the
production loop and parser), real PostgreSQL, projections, a py-evm chain and Redis: no 5xx,
and no response the document does not describe (status, content type, headers, body).

Every operation gets valid (positive) and invalid (negative) requests; the data behind them
is a real executed distribution, so list and detail routes validate real rows too. A page
cursor is valid only if this API issued it, which no schema can say: positive requests carry
none (negative ones do, and tests/api/test_api.py pages with issued cursors).
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial

import pytest
import requests
import schemathesis
import uvicorn
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from redis import Redis
from rq import Queue
from schemathesis import Case, GenerationMode
from schemathesis.config import SchemathesisConfig

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
EXAMPLES = {GenerationMode.POSITIVE: 25, GenerationMode.NEGATIVE: 12}
MINIMUM_CALLS = 500


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


def _prepared(case: Case, *, key: str, mode: GenerationMode) -> Case:
    """Our key wherever the case sends one; a case that drops the header (a negative one)
    stays without it, and must get a 401."""
    if mode is GenerationMode.POSITIVE:
        case.headers = {**(case.headers or {}), "X-API-Key": key}
        if case.query:
            case.query.pop("cursor", None)
    elif case.headers is not None and "X-API-Key" in case.headers:
        case.headers["X-API-Key"] = key
    return case


@pytest.mark.schemathesis
def test_generated_requests(served):
    config = SchemathesisConfig.from_dict(
        {"checks": {"positive_data_acceptance": {"expected-statuses": ACCEPTED}}})
    loaded = schemathesis.openapi.from_url(f"{served.base_url}/schema/openapi.json",
                                           config=config)
    session = requests.Session()  # keep-alive: the time goes to the server, not to connects
    calls = 0
    operations = [result.ok() for result in loaded.get_all_operations()]
    assert len(operations) >= 18
    for operation in operations:
        for mode, examples in EXAMPLES.items():

            strategy = operation.as_strategy(generation_mode=mode).map(
                partial(_prepared, key=served.key, mode=mode))

            @given(case=strategy)
            @settings(max_examples=examples, deadline=None, database=None,
                      suppress_health_check=list(HealthCheck))
            def run(case):
                nonlocal calls
                calls += 1
                case.call_and_validate(base_url=served.base_url, session=session)

            try:
                run()
            except Unsatisfiable:
                assert mode is GenerationMode.NEGATIVE  # no parameter to get wrong (/health)
    session.close()
    print(f"{calls} generated requests")
    assert calls >= MINIMUM_CALLS, calls
