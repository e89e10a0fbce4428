"""Reading a token's facts from its contract, behind a small interface injected at startup.

The API depends only on `TokenReader`; `mass-payout serve` wires `ChainTokenReader` (the
chain adapter's `read_token`) when RPC_URL is set. Its `TokenReadError`s become 422 problems
in `api.problems`.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cached_property
from typing import Protocol

from web3 import Web3

from api.problems import Problem
from chain.token_reader import TokenFacts, current_holders, read_token


class TokenReader(Protocol):
    @property
    def chain_id(self) -> int: ...

    def read_token(self, address: str) -> TokenFacts: ...

    def holders_now(self, address: str) -> Iterator[list[tuple[str, int]]]:
        """Pages of (holder, balance) as the token holds them now (a preview's holders
        before any snapshot of the asset was taken)."""
        ...


class ChainTokenReader:
    """The chain adapter's reader on one RPC endpoint (its chain id read once, when first
    needed: the API starts while the RPC is down, and says so in /health)."""

    def __init__(self, w3: Web3) -> None:
        self.w3 = w3

    @cached_property
    def chain_id(self) -> int:
        return int(self.w3.eth.chain_id)

    def read_token(self, address: str) -> TokenFacts:
        return read_token(self.w3, address)

    def holders_now(self, address: str) -> Iterator[list[tuple[str, int]]]:
        return current_holders(self.w3, address)


class NoChainReader:
    """No RPC_URL: imports answer 503 (the process lacks a dependency; the input is fine)."""

    chain_id = 0

    def read_token(self, address: str) -> TokenFacts:
        raise Problem(503, "chain-unavailable",
                      "no chain is configured for this API process (set RPC_URL)")

    def holders_now(self, address: str) -> Iterator[list[tuple[str, int]]]:
        return iter(())  # nothing to read them from: the preview says no holder is known
