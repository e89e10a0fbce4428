"""The panel on the API's app, as production composes it (`runtime.bootstrap`): a real
PostgreSQL, real projections, the in-process chain and Redis of tests/api."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from litestar.testing import TestClient

from api.app import Wiring, create_app
from api.reads import ReadModels
from tests.api.conftest import chain, keys, queue  # noqa: F401  # fixtures
from tests.projections.conftest import projector, views  # noqa: F401  # fixtures
from web.app import panel, template_config


@pytest.fixture
def web(ledger, database_url, schema, chain, queue, projector, keys) -> Iterator[TestClient]:  # noqa: F811
    app = create_app(Wiring(ledger=ledger, reads=ReadModels(database_url, schema),
                            token_reader=chain.reader, queue=queue),
                     panel=panel(), template_config=template_config())
    with TestClient(app, base_url="http://localhost", raise_server_exceptions=False) as client:
        yield client


def sign_in(client: TestClient, key: str) -> str:
    """Sign in with `key`; return the page's CSRF token (what htmx sends on every write)."""
    answer = client.post("/panel/login", data={"key": key, "next": "/panel/"},
                         follow_redirects=True)
    assert answer.status_code == 200, answer.text
    return csrf_of(answer.text)


def csrf_of(html: str) -> str:
    found = re.search(r'"X-CSRF-Token": "([^"]+)"', html)
    assert found, "no CSRF token on the page"
    return found.group(1)


def hx(csrf: str) -> dict[str, str]:
    """The headers htmx sends for a write from a panel page."""
    return {"HX-Request": "true", "X-CSRF-Token": csrf}
