"""A Mirror Node REST client: httpx with timeouts, retries, paging and a client-side rate limit.

Shapes, parameters and limits follow the Mirror Node's published OpenAPI document,
`rest/api/v1/openapi.yml` of hiero-ledger/hiero-mirror-node at commit
7cf097828b963777a3fbd53521c652f4d3d0a8ec (API version 0.141.0):

- every list answers `{"<items>": [...], "links": {"next": "/api/v1/...?..." | null}}`;
  `limit` is at most 100 and `order` is `asc`/`desc` (logs and balances default to `desc`, so
  we always ask `asc`); `links.next` is followed verbatim, relative to the node's origin;
- `timestamp` takes one `gte:`/`gt:` and one `lte:`/`lt:` bound, in `seconds.nanoseconds`;
- errors answer `{"_status": {"messages": [{"message": ...}]}}`: 400, 404, 429 and 5xx.

Retries: 429 and 5xx (and transport errors/timeouts) are retried with exponential backoff and
full jitter, honouring `Retry-After` (seconds) when the node sends it; after `max_retries` the
call raises `MirrorNodeUnavailable` (transient). A body that is not JSON, or not an object,
raises `MirrorNodeInconsistent` (transient too: never recorded, asked again later).

The rate limit is a token bucket shared by every request of one client: public Mirror Nodes
throttle per IP, and one ingestor plus one snapshot must not make the node answer 429 to the
others. Hand-written (twenty lines): the one maintained limiter installed here (pyrate-limiter)
arrives only as another package's dependency, and its API changes between majors.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import urljoin

import httpx

from chain.errors import ChainError
from chain.hedera.errors import (
    MirrorNodeInconsistent,
    MirrorNodeRequestRefused,
    MirrorNodeUnavailable,
)

PAGE_LIMIT = 100  # the OpenAPI's `limitQueryParam` maximum
Params = Mapping[str, str | int | Sequence[str]]


class NotFound(ChainError):
    """404 from the node: callers turn it into the error that names what was missing."""


class TokenBucket:
    """`rate` requests per second on average, bursts of up to `burst`; thread-safe."""

    def __init__(self, rate: float, burst: int, *,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.rate, self.burst = rate, burst
        self._tokens = float(burst)
        self._clock, self._sleep = clock, sleep
        self._at = clock()
        self._lock = threading.Lock()

    def take(self) -> None:
        if self.rate <= 0:
            return
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
            self._at = now
            wait = 0.0 if self._tokens >= 1 else (1 - self._tokens) / self.rate
            self._tokens -= 1  # may go negative: the wait below pays it back
        if wait:
            self._sleep(wait)


class MirrorNodeClient:
    """One Mirror Node (`base_url`: e.g. https://testnet.mirrornode.hedera.com)."""

    def __init__(self, base_url: str, *, timeout: float = 10.0, max_retries: int = 5,
                 backoff: float = 0.25, max_backoff: float = 20.0,
                 rate_per_second: float = 50.0, burst: int = 10,
                 sleep: Callable[[float], None] = time.sleep,
                 http: httpx.Client | None = None) -> None:
        self.base_url = base_url.rstrip("/") + "/"
        self.max_retries, self.backoff, self.max_backoff = max_retries, backoff, max_backoff
        self._sleep = sleep
        self._bucket = TokenBucket(rate_per_second, burst, sleep=sleep)
        self._http = http or httpx.Client(timeout=httpx.Timeout(timeout),
                                          headers={"Accept": "application/json"})
        self.requests = 0  # answered requests, retries included (tests count them)

    def close(self) -> None:
        self._http.close()

    # --- transport ---

    def get(self, path: str, params: Params | None = None) -> dict[str, Any]:
        """One JSON object from `path` (absolute `/api/v1/...` or a `links.next`)."""
        url = urljoin(self.base_url, path)  # `links.next` is a path from the node's origin
        attempt = 0
        while True:
            self._bucket.take()
            try:
                response = self._http.get(url, params=_query(params))
            except httpx.TransportError as err:  # timeouts, refused, reset
                reason, retry_after = f"{type(err).__name__}: {err}", None
            else:
                self.requests += 1
                status = response.status_code
                if status == 200:
                    return _json_object(response, url)
                if status == 404:
                    raise NotFound(_message(response))
                if status != 429 and status < 500:
                    raise MirrorNodeRequestRefused(f"GET {url} answered {status}:"
                                                   f" {_message(response)}")
                reason, retry_after = f"{status} {_message(response)}", _retry_after(response)
            attempt += 1
            if attempt > self.max_retries:
                raise MirrorNodeUnavailable(f"GET {url}: {reason} (after {attempt} attempts)")
            self._sleep(self._delay(attempt, retry_after))

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        """Full jitter (uniform up to the exponential step), never less than Retry-After."""
        step = min(self.max_backoff, self.backoff * 2 ** (attempt - 1))
        jittered = random.uniform(0, step)  # noqa: S311 - spreading retries, not a secret
        return max(jittered, min(retry_after, self.max_backoff * 3)) if retry_after is not None \
            else jittered

    def pages(self, path: str, params: Params, items: str) -> Iterator[list[dict[str, Any]]]:
        """Each page's `items` rows, following `links.next` until it is null."""
        next_path: str | None = path
        query: Params | None = {**params, "limit": PAGE_LIMIT}
        while next_path:
            body = self.get(next_path, query)
            rows = body.get(items)
            if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
                raise MirrorNodeInconsistent(f"{next_path}: no list of objects under {items!r}")
            yield rows
            links = body.get("links")
            next_path = links.get("next") if isinstance(links, dict) else None
            if next_path is not None and not isinstance(next_path, str):
                raise MirrorNodeInconsistent(f"{path}: links.next is not a string")
            query = None  # the next link carries every parameter

    # --- resources (paths and parameters per the OpenAPI document) ---

    def account(self, id_or_alias_or_evm_address: str) -> dict[str, Any] | None:
        """`/api/v1/accounts/{idOrAliasOrEvmAddress}` without its transactions; None on 404."""
        try:
            return self.get(f"/api/v1/accounts/{id_or_alias_or_evm_address}",
                            {"transactions": "false"})
        except NotFound:
            return None

    def accounts(self, account_ids: Sequence[str]) -> list[dict[str, Any]]:
        """Many accounts in one request: `account.id` repeated, up to 100 per call."""
        out: list[dict[str, Any]] = []
        for i in range(0, len(account_ids), PAGE_LIMIT):
            chunk = list(account_ids[i:i + PAGE_LIMIT])
            for rows in self.pages("/api/v1/accounts", {"account.id": chunk,
                                                        "balance": "false", "order": "asc"},
                                   "accounts"):
                out.extend(rows)
        return out

    def latest_block(self) -> dict[str, Any]:
        body = self.get("/api/v1/blocks", {"order": "desc", "limit": 1})
        blocks = body.get("blocks")
        if not isinstance(blocks, list) or not blocks or not isinstance(blocks[0], dict):
            raise MirrorNodeInconsistent("/api/v1/blocks answered no block")
        return blocks[0]

    def block(self, number: int) -> dict[str, Any] | None:
        try:
            return self.get(f"/api/v1/blocks/{number}")
        except NotFound:
            return None

    def contract_logs(self, address: str, *, timestamp_from: str, timestamp_to: str,
                      topics: Sequence[Sequence[str] | None] = (),
                      ) -> Iterator[list[dict[str, Any]]]:
        """Pages of `/api/v1/contracts/{address}/results/logs` in [from, to], oldest first.
        A topic position given several values matches any of them (repeated `topicN`)."""
        params: dict[str, str | int | Sequence[str]] = {
            "order": "asc", "timestamp": [f"gte:{timestamp_from}", f"lte:{timestamp_to}"]}
        for position, values in enumerate(topics):
            if values:
                params[f"topic{position}"] = list(values)
        return self.pages(f"/api/v1/contracts/{address}/results/logs", params, "logs")

    def contract_result(self, transaction_id_or_hash: str) -> dict[str, Any] | None:
        try:
            return self.get(f"/api/v1/contracts/results/{transaction_id_or_hash}")
        except NotFound:
            return None

    def token(self, token_id: str, timestamp: str | None = None) -> dict[str, Any] | None:
        try:
            return self.get(f"/api/v1/tokens/{token_id}",
                            {"timestamp": timestamp} if timestamp else None)
        except NotFound:
            return None

    def token_balances(self, token_id: str, timestamp: str) -> Iterator[dict[str, Any]]:
        """Whole pages (with their snapshot `timestamp`) of `/api/v1/tokens/{id}/balances`
        at or before `timestamp`, by account id ascending."""
        next_path: str | None = f"/api/v1/tokens/{token_id}/balances"
        query: Params | None = {"timestamp": f"lte:{timestamp}", "order": "asc",
                                "limit": PAGE_LIMIT}
        while next_path:
            body = self.get(next_path, query)
            yield body
            links = body.get("links")
            next_path = links.get("next") if isinstance(links, dict) else None
            query = None

    def transaction(self, transaction_id: str) -> list[dict[str, Any]] | None:
        """`/api/v1/transactions/{transactionId}` (`0.0.payer-seconds-nanos`): the transaction
        and its children, or None when the node has no record of it (yet)."""
        try:
            body = self.get(f"/api/v1/transactions/{transaction_id}")
        except NotFound:
            return None
        rows = body.get("transactions")
        if not isinstance(rows, list):
            raise MirrorNodeInconsistent(f"transaction {transaction_id}: no transactions list")
        return rows


def _query(params: Params | None) -> list[tuple[str, str | int | float | bool | None]] | None:
    """Repeated keys for list values (`timestamp=gte:a&timestamp=lte:b`)."""
    if params is None:
        return None
    out: list[tuple[str, str | int | float | bool | None]] = []
    for key, value in params.items():
        if isinstance(value, list | tuple):
            out.extend((key, str(v)) for v in value)
        else:
            out.append((key, str(value)))
    return out


def _json_object(response: httpx.Response, url: str) -> dict[str, Any]:
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise MirrorNodeInconsistent(f"GET {url}: malformed JSON ({err})") from None
    if not isinstance(body, dict):
        raise MirrorNodeInconsistent(f"GET {url}: a JSON {type(body).__name__}, not an object")
    return body


def _message(response: httpx.Response) -> str:
    """The first `_status.messages[].message`, else the start of the body."""
    try:
        return str(response.json()["_status"]["messages"][0]["message"])
    except Exception:  # noqa: BLE001 - any malformed error body: show its start
        return response.text[:200]


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None  # an HTTP date: rare from the Mirror Node; the backoff covers it
