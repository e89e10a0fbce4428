"""The chain adapters' errors have one root, and re-rooting them changed no handler's choice.

Every exception class defined anywhere in the `chain` package is found by walking its modules,
so a new adapter that invents its own root fails here, not in an operator's `except` clause.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from typing import Any

import pytest
from litestar import get
from litestar.params import FromPath
from litestar.testing import create_test_client

import chain
from api.problems import HANDLERS
from chain.errors import ChainError, ContractRevertError
from chain.gateway import RpcChainIdMismatchError, TransientChainError
from chain.hedera.errors import MirrorNodeInconsistent, MirrorNodeUnavailable
from chain.token_reader import AssetOnOtherChainError, TokenReadError


def chain_exceptions() -> list[type[BaseException]]:
    """Every exception class a module of the chain package defines (not re-imports)."""
    found: list[type[BaseException]] = []
    for info in pkgutil.walk_packages(chain.__path__, prefix="chain."):
        module = importlib.import_module(info.name)
        found += [obj for _, obj in inspect.getmembers(module, inspect.isclass)
                  if issubclass(obj, BaseException) and obj.__module__ == module.__name__]
    return sorted(found, key=lambda cls: f"{cls.__module__}.{cls.__qualname__}")


def an_instance(cls: type[BaseException]) -> BaseException:
    if issubclass(cls, ContractRevertError):
        return cls("Unauthorized", (), b"\x00" * 4)
    return cls("a message")


EXCEPTIONS = chain_exceptions()


def test_the_walk_finds_the_adapters_errors():
    # A walk that found nothing would make the next test pass vacuously.
    names = {cls.__name__ for cls in EXCEPTIONS}
    assert {"ChainError", "TransientChainError", "ContractRevertError", "SignerConfigError",
            "TransactionRevertedError", "TokenReadError", "RpcChainIdMismatchError",
            "AssetOnOtherChainError"} <= names


@pytest.mark.parametrize("cls", EXCEPTIONS, ids=lambda cls: cls.__qualname__)
def test_every_chain_exception_derives_from_chain_error(cls):
    assert issubclass(cls, ChainError)


def test_no_two_chain_exceptions_share_a_name():
    # Two `WrongChainError`s once meant different things; the API shows the name as the title.
    names = [cls.__name__ for cls in EXCEPTIONS]
    assert len(names) == len(set(names))


def test_the_two_wrong_chain_errors_are_distinct():
    # The node on another network than CHAIN_ID (configuration) vs. an asset on another chain
    # than the node serves (bad input): neither is the other, and neither is retried.
    assert RpcChainIdMismatchError is not AssetOnOtherChainError
    assert not issubclass(RpcChainIdMismatchError, AssetOnOtherChainError)
    assert not issubclass(AssetOnOtherChainError, RpcChainIdMismatchError)
    assert issubclass(AssetOnOtherChainError, TokenReadError)
    assert not issubclass(RpcChainIdMismatchError, TokenReadError | TransientChainError)


# Retried on purpose: a Mirror Node that stays down, or whose answer cannot be trusted yet (a
# page out of order, malformed JSON), is asked again later with the cursor where it was.
RETRIED = {TransientChainError, MirrorNodeUnavailable, MirrorNodeInconsistent}


@pytest.mark.parametrize("cls", [c for c in EXCEPTIONS if c not in RETRIED],
                         ids=lambda cls: cls.__qualname__)
def test_only_transient_errors_are_retried(cls):
    # The retry loops catch TransientChainError: a revert or a bad key must never land there.
    assert not issubclass(cls, TransientChainError)


def test_the_api_answers_token_errors_422_and_any_other_chain_error_500():
    # The problem mapping is looked up along each error's MRO: rooting TokenReadError in
    # ChainError must not change the status of either side.
    by_name = {cls.__name__: cls for cls in EXCEPTIONS}

    @get("/raise/{name:str}", sync_to_thread=False)
    def raise_it(name: FromPath[str]) -> Any:
        raise an_instance(by_name[name])

    with create_test_client([raise_it], exception_handlers=HANDLERS) as client:
        for cls in EXCEPTIONS:
            expected = 422 if issubclass(cls, TokenReadError) else 500
            r = client.get(f"/raise/{cls.__name__}")
            assert r.status_code == expected, (cls, r.text)
            if expected == 422:
                assert r.json()["type"] == "/problems/token-unreadable"
                assert r.json()["title"] == cls.__name__
