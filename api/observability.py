"""What the API tells operators about itself: Prometheus metrics, request ids, an access log.

Metrics are `prometheus_client`'s, in a registry of each app's own (never the global one:
tests build several apps in one process, and their series must not collide):
- `mass_payout_http_request_duration_seconds{method,route,status}`: a histogram per route
  *template* (`/distributions/{distribution_id}`, never an id: bounded cardinality);
- the process's CPU, memory, open files and GC (prometheus_client's process, platform and GC
  collectors, registered in the same registry);
- what `GET /metrics` reads at each scrape (api.controllers.ops): the read models', the
  ingestion's, the scheduler's and the RQ queue's figures, as gauge families made for that
  scrape only (`snapshot`), so concurrent scrapes never see each other's half-set gauges.

Each HTTP request gets a request id: the caller's `X-Request-Id` when it is a sane token
(`REQUEST_ID_SHAPE`), else a new one; the response echoes it, and every log line made while
the request is served carries it (`request_id`, set on each record by
`api.request_ids.install_request_ids`).
One access-log line per request (`mass_payout.access`): method, route template, status,
milliseconds, request id and the principal when the guard verified one; never the API key,
never the query string.

The instrumentation wraps the app's ASGI handler (outside routing and the exception
handlers), so a 404 of an unknown path or a 500 is timed and logged like any answer.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Iterable

from litestar import Litestar
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from api.request_ids import REQUEST_ID

HEADER = "x-request-id"
REQUEST_ID_SHAPE = re.compile(r"[A-Za-z0-9._:-]{1,128}")  # anything else is replaced
UNMATCHED = "unmatched"  # the route label of a path no route answers (a 404)

access_log = logging.getLogger("mass_payout.access")


class Observability:
    """One app's metrics registry and its request-latency histogram."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.latency = Histogram(
            "mass_payout_http_request_duration_seconds",
            "Time from the request's arrival to its response's last byte, per route template",
            ["method", "route", "status"], registry=self.registry)
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)

    def exposition(self, *families: Metric) -> bytes:
        """This process's series, then the scrape's own gauge families."""
        scrape = CollectorRegistry(auto_describe=False)
        scrape.register(_Families(families))
        return generate_latest(self.registry) + generate_latest(scrape)


class _Families(Collector):
    def __init__(self, families: Iterable[Metric]) -> None:
        self.families = list(families)

    def collect(self) -> Iterable[Metric]:
        return self.families


def gauge(name: str, documentation: str, labels: Iterable[str],
          samples: Iterable[tuple[tuple[str, ...], float]]) -> GaugeMetricFamily:
    """A labelled gauge family for one scrape: `samples` as (label values, value)."""
    family = GaugeMetricFamily(name, documentation, labels=list(labels))
    for values, value in samples:
        family.add_metric(list(values), value)
    return family


def single(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    """An unlabelled gauge for one scrape."""
    return GaugeMetricFamily(name, documentation, value=value)


def request_id(scope: Scope) -> str:
    """The caller's X-Request-Id when it has a sane shape, else a new one."""
    for name, value in scope.get("headers", ()):
        if name == HEADER.encode():
            given = value.decode("latin-1").strip()
            if REQUEST_ID_SHAPE.fullmatch(given):
                return given
            break
    return uuid.uuid4().hex


def instrument(app: Litestar) -> Observability:
    """Time, count and log every HTTP request of `app`; its registry in `app.state`."""
    observability = Observability()
    inner: ASGIApp = app.asgi_handler

    async def handler(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await inner(scope, receive, send)
            return
        rid = request_id(scope)
        token = REQUEST_ID.set(rid)
        status = 500  # unless a response starts: the connection broke or the app crashed
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [(k, v) for k, v in message.get("headers", ())
                           if k.lower() != HEADER.encode()]
                message = {**message, "headers": [*headers, (HEADER.encode(), rid.encode())]}
            await send(message)

        try:
            await inner(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            method = scope.get("method", "?")
            route = scope.get("path_template") or UNMATCHED
            observability.latency.labels(method, route, str(status)).observe(seconds)
            principal = _principal(scope)
            access_log.info("%s %s %d %.1fms%s", method, route, status, seconds * 1000,
                            f" {principal}" if principal else "",
                            extra={"method": method, "route": route, "status": status,
                                   "duration_ms": round(seconds * 1000, 3),
                                   "principal": principal})
            REQUEST_ID.reset(token)

    app.asgi_handler = handler
    app.state.observability = observability
    return observability


def _principal(scope: Scope) -> str | None:
    """Who the guard verified (api.auth puts it in the connection's state), by name."""
    found = (scope.get("state") or {}).get("principal")
    if found is None:
        return None
    return str(getattr(found, "actor", None) or getattr(found, "principal", None) or "")
