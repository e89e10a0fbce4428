"""Test helpers: one deployed system with a key per role, and distributions built from the
ledger's own Merkle code (domain.merkle), so every test checks that the two agree."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from eth_utils import keccak, to_checksum_address
from web3 import Web3
from web3.contract import Contract
from web3.logs import DISCARD
from web3.providers.eth_tester import EthereumTesterProvider
from web3.types import TxReceipt

from chain.contracts import (
    call,
    deploy,
    deploy_security_token,
    deploy_stablecoin,
    deploy_vault,
    send,
)
from chain.vault import BatchCall, Entitlement, announce, build_batch, pay_batch
from domain.merkle import MerkleTree, leaf_hash

DAY = 86_400
FUNDING = 10**15


@dataclass
class System:
    w3: Web3
    admin: str
    approver: str
    operator: str
    pauser: str
    treasurer: str
    upgrader: str
    treasury: str
    outsider: str
    holders: list[str]
    usd: Contract
    vault: Contract
    bond: Contract


def deploy_system(w3: Web3) -> System:
    a = w3.eth.accounts
    admin, approver, operator, pauser, treasurer, upgrader, treasury, outsider = a[:8]
    usd = deploy_stablecoin(w3, owner=admin)
    vault = deploy_vault(w3, admin=admin, treasury=treasury, grants={
        "APPROVER": [approver], "OPERATOR": [operator], "PAUSER": [pauser],
        "TREASURER": [treasurer], "UPGRADER": [upgrader]})
    bond = deploy_security_token(w3, admin=admin, maturity_date=now(w3) + 365 * DAY,
                                 nominal_value=100_000_000)
    send(usd.functions.mint(vault.address, FUNDING), admin)
    return System(w3, admin, approver, operator, pauser, treasurer, upgrader, treasury, outsider,
                  holders=addresses("holder", 64), usd=usd, vault=vault, bond=bond)


YEAR = 365 * DAY  # ATS's coupon day count


def dividend(record: int, execution: int, amount: int, amount_decimals: int = 6) -> tuple:
    """An ATS IDividend.Dividend: `amount / 10^amount_decimals` currency units per token."""
    return (record, execution, amount, amount_decimals)


def coupon(record: int, execution: int, rate: int, rate_decimals: int = 4, *,
           start: int | None = None, end: int | None = None) -> tuple:
    """An ATS ICoupon.Coupon over one year by default (rate 125, 4 decimals: 1.25 %), SET."""
    start = record - YEAR if start is None else start
    end = record if end is None else end
    return (record, execution, start, end, record, rate, rate_decimals, 1)


def addresses(tag: str, n: int) -> list[str]:
    return [to_checksum_address(keccak(text=f"{tag}:{i}")[-20:]) for i in range(n)]


def now(w3: Web3) -> int:
    return int(w3.eth.get_block("latest")["timestamp"])


def travel(w3: Web3, seconds: int) -> None:
    """Moves the chain's clock forward and mines a block."""
    if isinstance(w3.provider, EthereumTesterProvider):
        w3.testing.timeTravel(now(w3) + seconds)
        w3.testing.mine()
    else:
        w3.provider.make_request("evm_increaseTime", [seconds])  # type: ignore[arg-type]
        w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]


@dataclass
class Dist:
    """A distribution's committed entitlements and the proofs the service would send."""

    system: System
    entries: list[Entitlement]
    id: bytes = field(default_factory=lambda: os.urandom(32))
    tree: MerkleTree = field(init=False)

    def __post_init__(self) -> None:
        self.tree = MerkleTree([leaf_hash(e.index, e.account, e.amount) for e in self.entries])

    @property
    def total(self) -> int:
        return sum(e.amount for e in self.entries)

    def announce(self, *, total_net: int | None = None, deadline: int = 30 * DAY,
                 token: str | None = None) -> TxReceipt:
        s = self.system
        return announce(s.vault, s.approver, distribution_id=self.id,
                        token=token or s.usd.address, root=self.tree.root,
                        total_net=self.total if total_net is None else total_net,
                        leaf_count=len(self.entries), claim_deadline=now(s.w3) + deadline)

    def batch(self, indices: Sequence[int]) -> BatchCall:
        mp = self.tree.multiproof(indices)
        return build_batch([self.entries[i] for i in mp.indices], mp.proof, mp.flags)

    def pay(self, indices: Sequence[int], *, sender: str | None = None) -> TxReceipt:
        s = self.system
        return pay_batch(s.vault, sender or s.operator, self.id, self.batch(indices))

    def pay_range(self, first: int, count: int) -> TxReceipt:
        return self.pay(range(first, first + count))

    def proof(self, index: int) -> list[bytes]:
        return self.tree.proof(index)


def make_dist(system: System, amounts: Sequence[int], accounts: Sequence[str] | None = None) \
        -> Dist:
    accounts = accounts or addresses(f"payee-{os.urandom(4).hex()}", len(amounts))
    return Dist(system, [Entitlement(i, a, x)
                         for i, (a, x) in enumerate(zip(accounts, amounts, strict=True))])


def events(contract: Contract, receipt: TxReceipt, name: str) -> list[dict[str, Any]]:
    return [dict(e["args"]) for e in getattr(contract.events, name)().process_receipt(
        receipt, errors=DISCARD)]


def _bit_indices(receipt: TxReceipt, vault: Contract, event: str, field: str) -> list[int]:
    out = []
    for e in events(vault, receipt, event):
        out += [e["wordIndex"] * 256 + j for j in range(256) if e[field] >> j & 1]
    return sorted(out)


def paid_indices(receipt: TxReceipt, vault: Contract) -> list[int]:
    """Every index the receipt's Paid events report, decoded from their bitmap words."""
    return _bit_indices(receipt, vault, "Paid", "paidBits")


def skipped_indices(receipt: TxReceipt, vault: Contract) -> list[int]:
    """Every index the receipt's AlreadyPaid events report."""
    return _bit_indices(receipt, vault, "AlreadyPaid", "skippedBits")


def balance(system: System, account: str) -> int:
    return int(call(system.usd.functions.balanceOf(account)))


def deploy_named(system: System, name: str, *args: Any) -> Contract:
    return deploy(system.w3, name, *args, sender=system.admin)

