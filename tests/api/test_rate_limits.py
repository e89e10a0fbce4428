"""Rate limits per API key (or per client address without one): a 429 problem+json with
Retry-After, and one client's limit is not another's. Off unless configured."""

from __future__ import annotations

from litestar.testing import TestClient

from api.app import Wiring, create_app
from api.reads import ReadModels
from runtime.bootstrap import build_api
from runtime.settings import Settings
from tests.api.conftest import auth


def test_a_key_over_its_limit_is_told_when_to_retry_and_others_are_not_affected(
        ledger, database_url, schema, chain, keys):
    app = create_app(Wiring(ledger=ledger, reads=ReadModels(database_url, schema),
                            token_reader=chain.reader), rate_limit_per_minute=3)
    with TestClient(app) as client:
        # The viewer's key makes its three requests of the minute...
        for _ in range(3):
            assert client.get("/schedules", headers=auth(keys["viewer"])).status_code == 200
        # ...and the fourth is refused, as a problem, saying when to come back.
        refused = client.get("/schedules", headers=auth(keys["viewer"]))
        assert refused.status_code == 429
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["type"] == "/problems/rate-limited"
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        # Another key has its own count; so has a client without a key (by address).
        assert client.get("/schedules", headers=auth(keys["operator"])).status_code == 200
        assert client.get("/schedules").status_code == 401
        # Health probes are never limited.
        assert all(client.get("/health").status_code != 429 for _ in range(5))


def test_the_limit_is_a_setting_and_off_by_default(database_url, schema, keys):
    assert Settings.from_env({}).rate_limit_per_minute == 0
    settings = Settings.from_env({"DATABASE_URL": database_url, "MASS_PAYOUT_SCHEMA": schema,
                                  "MASS_PAYOUT_RATE_LIMIT": "1"})
    with TestClient(build_api(settings)) as client:
        assert client.get("/schedules", headers=auth(keys["viewer"])).status_code == 200
        assert client.get("/schedules", headers=auth(keys["viewer"])).status_code == 429
