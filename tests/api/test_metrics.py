"""/metrics through prometheus_client, request ids and the access log (#20)."""

from __future__ import annotations

import json
import logging

import pytest
from litestar.testing import TestClient
from prometheus_client.parser import text_string_to_metric_families

from api.app import Wiring, create_app
from api.observability import REQUEST_ID_SHAPE
from api.reads import ReadModels
from app import redaction
from runtime import logs
from tests.api.conftest import auth


def families(text: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """Every family (by name) of an exposition: its samples by their sorted labels; the
    parser refuses a malformed exposition (e.g. a sample without its family's TYPE)."""
    found: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = \
                sample.value
    return found


def test_the_dashboards_series_keep_their_names_and_labels(client, keys):
    client.get("/distributions", headers=auth(keys["viewer"]))
    response = client.get("/metrics", headers=auth(keys["viewer"]))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    got = families(text)
    for name in ("mass_payout_ledger_position", "mass_payout_scheduler_failing_items"):
        assert name in got, name
    for name in ("mass_payout_batches", "mass_payout_payments", "mass_payout_payments_net_units",
                 "mass_payout_projection_lag_events", "mass_payout_ingestion_lag_blocks",
                 "mass_payout_ingestion_unreadable_logs"):
        assert f"# TYPE {name} gauge" in text, name
    assert got["mass_payout_scheduler_failing_items"][()] == 0
    # Request latency per route template, this process's own, and the job queue.
    latency = got["mass_payout_http_request_duration_seconds_count"]
    assert latency[(("method", "GET"), ("route", "/distributions"), ("status", "200"))] == 1
    assert "process_cpu_seconds_total" in got
    assert got["mass_payout_queue_up"][()] == 1
    assert got["mass_payout_queue_depth"][()] == 0
    assert {dict(k)["outcome"] for k in got["mass_payout_jobs"]} == {
        "finished", "failed", "canceled"}


def test_routes_are_labelled_by_template_and_unknown_paths_as_unmatched(client, keys):
    client.get("/distributions/00000000-0000-0000-0000-000000000001",
               headers=auth(keys["viewer"]))
    client.get("/no/such/path")
    got = families(client.get("/metrics", headers=auth(keys["viewer"])).text)
    routes = {dict(k)["route"]: dict(k)["status"]
              for k in got["mass_payout_http_request_duration_seconds_count"]}
    assert routes["/distributions/{distribution_id}"] == "404"
    assert routes["unmatched"] == "404"
    assert not any("00000000" in route for route in routes)


def test_two_apps_in_one_process_keep_their_own_series(ledger, database_url, schema, chain,
                                                       projector, keys):
    apps = [create_app(Wiring(ledger=ledger, reads=ReadModels(database_url, schema),
                              token_reader=chain.reader)) for _ in range(2)]
    with TestClient(apps[0]) as first, TestClient(apps[1]) as second:
        for _ in range(3):
            first.get("/health/live")
        second.get("/health/live")
        counts = [families(c.get("/metrics", headers=auth(keys["viewer"])).text)[
            "mass_payout_http_request_duration_seconds_count"][
            (("method", "GET"), ("route", "/health/live"), ("status", "200"))]
            for c in (first, second)]
    assert counts == [3, 1]


def test_a_request_id_is_taken_or_made_and_echoed(client):
    given = client.get("/health/live", headers={"X-Request-Id": "abc-123"})
    assert given.headers["x-request-id"] == "abc-123"
    made = client.get("/health/live")
    assert REQUEST_ID_SHAPE.fullmatch(made.headers["x-request-id"])
    hostile = client.get("/health/live", headers={"X-Request-Id": "a b\\" + "x" * 300})
    assert hostile.headers["x-request-id"] != "a b\\" + "x" * 300
    assert REQUEST_ID_SHAPE.fullmatch(hostile.headers["x-request-id"])


@pytest.fixture
def json_logs(capsys):
    """The process's logs in JSON, as MASS_PAYOUT_LOG_FORMAT=json sets them; the lines."""
    root = logging.getLogger()
    level = root.level
    handler = logs.configure("json")
    yield lambda: [json.loads(line) for line in capsys.readouterr().err.splitlines()
                   if line.startswith("{")]
    root.removeHandler(handler)
    root.setLevel(level)


def test_each_request_has_one_access_line_with_its_id_and_principal(client, keys, json_logs):
    json_logs()
    key = keys["viewer"]
    client.get("/distributions/00000000-0000-0000-0000-000000000001",
               headers=auth(key, **{"X-Request-Id": "req-42"}))
    lines = json_logs()
    access = [line for line in lines if line["logger"] == "mass_payout.access"]
    assert len(access) == 1, lines
    line = access[0]
    assert (line["method"], line["route"], line["status"], line["request_id"]) == (
        "GET", "/distributions/{distribution_id}", 404, "req-42")
    assert line["principal"] and line["duration_ms"] >= 0
    assert {"time", "level", "message"} <= set(line)
    assert key not in json.dumps(lines)  # never the API key
    assert "redacted" not in line


def test_a_secret_in_a_log_argument_never_reaches_a_json_line(json_logs):
    secret = "0x" + "ab" * 32
    redaction.register(secret)
    json_logs()
    logging.getLogger("mass_payout").warning("signing with %s failed", secret)
    logging.getLogger("mass_payout").warning("rpc at %s", "https://user:hunter22@node/?apikey=k1")
    lines = json_logs()
    text = json.dumps(lines)
    assert secret not in text and secret[2:] not in text
    assert "hunter22" not in text and "k1" not in text
    assert lines[0]["message"] == f"signing with {redaction.MASK} failed"
    assert lines[0]["request_id"] is None


def test_a_long_running_process_serves_its_own_metrics_on_its_port():
    """MASS_PAYOUT_METRICS_PORT: a worker's, ingestor's, supervisor's or scheduler's series
    (CPU, memory, its loop's steps), served by prometheus_client."""
    import httpx

    from devtools.devchain import free_port
    from mass_payout.processes import ProcessMetrics
    from runtime.settings import Settings

    port = free_port()
    settings = Settings.from_env({"MASS_PAYOUT_METRICS_PORT": str(port),
                                  "MASS_PAYOUT_SECRETS_DIR": "/nonexistent"})
    metrics = ProcessMetrics(settings, "ingestor")
    metrics.step()
    metrics.step("transient")
    metrics.facts.inc(7)
    got = families(httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text)
    assert "process_cpu_seconds_total" in got
    steps = got["mass_payout_process_steps_total"]
    assert steps[(("outcome", "ok"), ("process", "ingestor"))] == 1
    assert steps[(("outcome", "transient"), ("process", "ingestor"))] == 1
    assert got["mass_payout_ingested_facts_total"][()] == 7
    assert Settings.from_env({"MASS_PAYOUT_SECRETS_DIR": "/nonexistent"}).metrics_port == 0
