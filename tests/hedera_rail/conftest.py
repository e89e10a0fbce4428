"""Fixtures for the HTS rail's tests, all against the STAND-IN Hedera network
(devtools.hedera_standin): the real network cannot be reached from this machine."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from eventsourcing.postgres import PostgresDatastore
from hiero_sdk_python import AccountId, Client, PrivateKey, TokenId

from devtools.hedera_standin import StandinNetwork
from projections.store import views_datastore

TREASURY_TINYBARS = 1_000 * 100_000_000  # 1,000 hbar for fees


@dataclass
class World:
    """A stand-in network with a funded treasury holding the payment token, and a client."""

    net: StandinNetwork
    client: Client
    treasury: AccountId
    treasury_key: PrivateKey
    token: TokenId
    others: list[Client] = field(default_factory=list)

    def holder(self, *, associated: bool = True, kyc_granted: bool = True,
               key: PrivateKey | None = None) -> tuple[AccountId, PrivateKey]:
        key = key or PrivateKey.generate_ed25519()
        kind = "ed25519" if key.is_ed25519() else "ecdsa_secp256k1"
        number = self.net.create_account(kind, key.public_key().to_bytes_raw(), 10**8)
        if associated:
            self.net.associate(number, self.token.num, kyc_granted=kyc_granted)
        return AccountId(0, 0, number), key

    def fresh_client(self) -> Client:
        """Another client: the SDK benches a node for >= 8 s after a transport error, so the
        client that lost an answer cannot ask its only node for a while."""
        client = _client(self.net)
        client.set_operator(self.treasury, self.treasury_key)
        self.others.append(client)
        return client

    def balance(self, account: AccountId) -> int | None:
        return self.net.token_balance(account.num, self.token.num)


def _client(net: StandinNetwork) -> Client:
    client = Client.for_network({net.address: AccountId(0, 0, 3)})
    client.set_min_backoff(0.01)  # the SDK's BUSY backoff, kept short for tests
    client.set_max_backoff(0.05)
    return client


@pytest.fixture
def world() -> Iterator[World]:
    """A fresh stand-in per test: tests advance its clock, which would expire the next
    test's transactions if it were shared (starting one costs a few milliseconds)."""
    net = StandinNetwork().start()
    key = PrivateKey.generate_ed25519()
    treasury = net.create_account("ed25519", key.public_key().to_bytes_raw(), TREASURY_TINYBARS)
    token = net.create_token(treasury, 10**12, decimals=2, kyc_required=True)
    client = _client(net)
    client.set_operator(AccountId(0, 0, treasury), key)
    world = World(net, client, AccountId(0, 0, treasury), key, TokenId(0, 0, token))
    try:
        yield world
    finally:
        for opened in (client, *world.others):
            opened.close()
        net.stop()


@pytest.fixture
def views(database_url, schema) -> Iterator[PostgresDatastore]:
    """The read models' store, for tests that check what operators see."""
    datastore = views_datastore(database_url, schema)
    yield datastore
    datastore.close()
