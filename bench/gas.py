"""Gas benchmark: PayoutVault.payBatch against a bare loop of transfers, on anvil.

For each recipient kind (fresh: no token balance yet; existing: already holds the token) and
batch size (50/100/200/400) it pays a new batch through the vault and the same kind of batch
through FloorPayer (same token, same packed calldata, no checks), then fits
`gas = fixed + per_leaf * n` by least squares. The per-leaf slopes are the marginal costs;
the vault's fixed part and fresh slope size batches under Hedera's 15M gas cap.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from web3 import Web3
from web3.types import TxReceipt

from chain.contracts import (
    BOND,
    deploy,
    deploy_security_token,
    deploy_stablecoin,
    deploy_vault,
    role,
    send,
)
from chain.vault import (
    BatchCall,
    Entitlement,
    announce,
    announce_cash_out,
    build_batch,
    cash_out,
    pack_leaf,
    pay_batch,
)
from devtools.devchain import Anvil
from domain.merkle import MerkleTree, leaf_hash
from domain.network import HEDERA_TX_GAS_CAP, network_profile
from domain.planning import GasModel

SIZES = (50, 100, 200, 400)
CASH_OUT_SIZES = (25, 50, 100)  # ~116k gas a holder: 100 stay under one block's gas
NOMINAL = 100_000_000  # the bond's principal per whole unit (2 decimals): 100 USD
SAFETY_MARGIN = 0.05  # headroom below the cap for calldata/proof variance


def _addresses(tag: str, n: int) -> list[str]:
    return [to_checksum_address(keccak(text=f"{tag}:{i}")[-20:]) for i in range(n)]


def _fit(points: Sequence[tuple[int, int]]) -> tuple[float, float]:
    """Least-squares `gas = a + b n`: returns (a, b)."""
    n = len(points)
    sx = sum(x for x, _ in points)
    sy = sum(y for _, y in points)
    sxx = sum(x * x for x, _ in points)
    sxy = sum(x * y for x, y in points)
    b = (n * sxy - sx * sy) / (n * sxx - sx * sx)
    return (sy - b * sx) / n, b


class _Bench:
    def __init__(self, w3: Web3, log: Callable[[str], None]) -> None:
        self.w3 = w3
        self.log = log
        acct: list[str] = list(w3.eth.accounts)
        self.admin, self.operator = acct[0], acct[1]
        self.usd = deploy_stablecoin(w3, owner=self.admin)
        self.vault = deploy_vault(w3, admin=self.admin, treasury=acct[2],
                                  grants={"APPROVER": [self.admin], "OPERATOR": [self.operator]})
        self.floor = deploy(w3, "FloorPayer", sender=self.admin)
        for holder in (self.vault.address, self.floor.address):
            send(self.usd.functions.mint(holder, 10**15), self.admin)
        self.runs = 0
        self.sent: dict[tuple[str, int], tuple[bytes, BatchCall, bytes]] = {}

    def recipients(self, kind: str, n: int) -> list[str]:
        self.runs += 1
        accounts = _addresses(f"{kind}-{self.runs}", n)
        if kind == "existing":
            send(self.usd.functions.mintMany(accounts, 1), self.admin)
        return accounts

    def ours(self, kind: str, n: int) -> int:
        accounts = self.recipients(kind, n)
        entries = [Entitlement(i, a, 1_000_000 + i) for i, a in enumerate(accounts)]
        tree = MerkleTree([leaf_hash(e.index, e.account, e.amount) for e in entries])
        distribution_id = keccak(text=f"bench-{self.runs}")
        announce(self.vault, self.admin, distribution_id=distribution_id, token=self.usd.address,
                 root=tree.root, total_net=sum(e.amount for e in entries), leaf_count=n,
                 claim_deadline=int(time.time()) + 86_400 * 365)
        mp = tree.multiproof(range(n))
        batch = build_batch(entries, mp.proof, mp.flags)
        receipt = pay_batch(self.vault, self.operator, distribution_id, batch)
        self.sent[(kind, n)] = (distribution_id, batch, self.input_of(receipt))
        return int(receipt["gasUsed"])

    def resend(self, kind: str, n: int) -> int:
        """The same batch again: every leaf is skipped (hash, proof, bitmap read, AlreadyPaid)."""
        distribution_id, batch, _ = self.sent[(kind, n)]
        return int(pay_batch(self.vault, self.operator, distribution_id, batch)["gasUsed"])

    def input_of(self, receipt: TxReceipt) -> bytes:
        return bytes(self.w3.eth.get_transaction(receipt["transactionHash"])["input"])

    def floor_loop(self, kind: str, n: int) -> int:
        leaves = [pack_leaf(a, 1_000_000 + i) for i, a in enumerate(self.recipients(kind, n))]
        receipt = send(self.floor.functions.payAll(self.usd.address, leaves), self.admin)
        self.sent[("floor-" + kind, n)] = (b"", BatchCall(0, b"", leaves, [], b""),
                                           self.input_of(receipt))
        return int(receipt["gasUsed"])


class _CashOutBench:
    """cashOut against a bare redeem + transfer loop (FloorPayer.redeemAndPayAll) on the same
    bond: each batch's holders are issued units and frozen by a snapshot first, so both pay
    for the snapshot checkpoints a redemption after maturity writes."""

    def __init__(self, bench: _Bench) -> None:
        w3, admin = bench.w3, bench.admin
        self.bench = bench
        self.bond = deploy_security_token(w3, admin=admin, kind=BOND,
                                          maturity_date=int(time.time()) + 86_400 * 365,
                                          nominal_value=NOMINAL)
        for name in ("ISSUER", "CORPORATE_ACTION"):
            send(self.bond.functions.grantRole(role(name), admin), admin)
        for controller in (bench.vault.address, bench.floor.address):
            send(self.bond.functions.grantRole(role("CONTROLLER"), controller), admin)

    def holders(self, n: int) -> list[Entitlement]:
        accounts = self.bench.recipients("fresh", n)
        units = [100 + i for i in range(n)]
        send(self.bond.functions.issueBatch(accounts, units), self.bench.admin, gas=30_000_000)
        send(self.bond.functions.takeSnapshot(), self.bench.admin)
        return [Entitlement(i, a, u) for i, (a, u) in enumerate(zip(accounts, units,
                                                                       strict=True))]

    def ours(self, n: int) -> int:
        entries = self.holders(n)
        tree = MerkleTree([leaf_hash(e.index, e.account, e.amount) for e in entries])
        distribution_id = keccak(text=f"cash-out-{n}-{self.bench.runs}")
        announce_cash_out(self.bench.vault, self.bench.admin, distribution_id=distribution_id,
                          token=self.bench.usd.address, asset=self.bond.address,
                          principal_per_unit=NOMINAL, root=tree.root,
                          total_net=sum(e.amount * NOMINAL // 100 for e in entries),
                          leaf_count=n, claim_deadline=int(time.time()) + 86_400 * 365)
        mp = tree.multiproof(range(n))
        batch = build_batch(entries, mp.proof, mp.flags)
        return int(cash_out(self.bench.vault, self.bench.operator, distribution_id,
                            batch)["gasUsed"])

    def floor(self, n: int) -> int:
        leaves = [pack_leaf(e.account, e.amount) for e in self.holders(n)]
        fn = self.bench.floor.functions.redeemAndPayAll(
            self.bench.usd.address, self.bond.address, NOMINAL, 100, leaves)
        return int(send(fn, self.bench.admin, gas=30_000_000)["gasUsed"])


def measure_cash_out(bench: _Bench, sizes: Sequence[int] = CASH_OUT_SIZES) -> dict[str, Any]:
    cash = _CashOutBench(bench)
    fits: dict[str, tuple[float, float]] = {}
    detail: dict[str, Any] = {}
    for who, fn in (("cash_out", cash.ours), ("cash_out_floor", cash.floor)):
        points = [(n, fn(n)) for n in sizes]
        for n, gas in points:
            bench.log(f"{who:14} n={n:4} gas={gas:>10,} per holder={gas / n:,.0f}")
        fits[who] = _fit(points)
        detail[f"{who}_by_size"] = {str(n): g for n, g in points}
    fixed, per = fits["cash_out"]
    floor = fits["cash_out_floor"][1]
    return {"cash_out_fresh": round(per), "cash_out_floor_fresh": round(floor),
            "cash_out_ratio": round(per / floor, 4), "cash_out_overhead": round(per - floor),
            "cash_out_fixed": round(fixed), "cash_out_sizes": list(sizes), **detail}


def _calldata_gas(data: bytes) -> int:
    return sum(16 if b else 4 for b in data)


def _breakdown(bench: _Bench, sizes: Sequence[int]) -> dict[str, Any]:
    """Where the per-holder gas goes, from the largest two batch sizes actually sent."""
    small, large = sorted(sizes)[-2:]
    per = large - small
    _, batch, data_large = bench.sent[("fresh", large)]
    data_small = bench.sent[("fresh", small)][2]
    flags = [bool(b >> i & 1) for b in batch.proof_flags for i in range(8)]
    flags = flags[:len(batch.leaves) + len(batch.proof) - 1]
    skip = (bench.resend("fresh", large) - bench.resend("fresh", small)) / per
    return {
        "calldata_gas_per_leaf": round(
            (_calldata_gas(data_large) - _calldata_gas(data_small)) / per),
        "floor_calldata_gas_per_leaf": round(
            (_calldata_gas(bench.sent[("floor-fresh", large)][2])
             - _calldata_gas(bench.sent[("floor-fresh", small)][2])) / per),
        "flags_packed_calldata_gas": _calldata_gas(batch.proof_flags),
        "flags_as_bool_array_calldata_gas": sum(4 * 31 + (16 if f else 4) for f in flags) + 64,
        "proof_hashes": len(batch.proof),
        "batch_size_for_calldata": large,
        "skip_gas_per_leaf": round(skip),
    }


def measure(w3: Web3, *, sizes: Sequence[int] = SIZES,
            log: Callable[[str], None] = print) -> dict[str, Any]:
    bench = _Bench(w3, log)
    detail: dict[str, Any] = {}
    fits: dict[str, tuple[float, float]] = {}
    for who, fn in (("ours", bench.ours), ("floor", bench.floor_loop)):
        for kind in ("fresh", "existing"):
            points = []
            for n in sizes:
                gas = fn(kind, n)
                points.append((n, gas))
                log(f"{who:5} {kind:8} n={n:4} gas={gas:>10,} per holder={gas / n:,.0f}")
            fits[f"{who}_{kind}"] = _fit(points)
            detail[f"{who}_{kind}_by_size"] = {str(n): g for n, g in points}
    detail["breakdown"] = _breakdown(bench, sizes)
    fixed, fresh = fits["ours_fresh"]
    budget = HEDERA_TX_GAS_CAP * (1 - SAFETY_MARGIN) - fixed
    result: dict[str, Any] = {
        "ours_fresh": round(fresh),
        "ours_existing": round(fits["ours_existing"][1]),
        "floor_fresh": round(fits["floor_fresh"][1]),
        "floor_existing": round(fits["floor_existing"][1]),
        "ratio_fresh": round(fresh / fits["floor_fresh"][1], 4),
        "ratio_existing": round(fits["ours_existing"][1] / fits["floor_existing"][1], 4),
        "max_batch_under_15m_gas": int(budget // fresh),
        "fixed_ours": round(fixed),
        "fixed_ours_existing": round(fits["ours_existing"][0]),
        "fixed_floor": round(fits["floor_fresh"][0]),
        "gas_per_fresh_leaf": round(fresh),
        "gas_per_existing_leaf": round(fits["ours_existing"][1]),
        "overhead_fresh": round(fresh - fits["floor_fresh"][1]),
        "overhead_existing": round(fits["ours_existing"][1] - fits["floor_existing"][1]),
        "tx_gas_cap": HEDERA_TX_GAS_CAP,
        "safety_margin": SAFETY_MARGIN,
        "sizes": list(sizes),
    }
    result["hedera_plan"] = hedera_plan(fixed, fresh)
    result.update(detail)
    result.update(measure_cash_out(bench))
    return result


def hedera_plan(fixed: float, fresh: float, leaf_count: int = 100_000) -> dict[str, Any]:
    """What the planner cuts on Hedera's relay profile (gas cap AND calldata limit) for a
    `leaf_count`-holder distribution, and what the measured fit says such a batch costs."""
    model = GasModel.for_network(network_profile("hedera-mainnet"))
    holders = model.capacity(leaf_count)
    by_gas = GasModel(budget=model.budget).capacity(leaf_count)
    return {"leaf_count": leaf_count, "holders_per_batch": holders,
            "gas_limit": model.gas_limit(holders, leaf_count),
            "measured_gas": round(fixed + fresh * holders),
            "calldata_bytes_at_most": model.calldata_bytes(holders, leaf_count),
            "calldata_limit": model.max_calldata_bytes,
            "bound_by": "gas" if holders == by_gas else "calldata"}


def run(*, holders: int | None = None, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Deploys everything on a fresh anvil and measures; `holders` caps the largest batch size."""
    sizes = SIZES if holders is None else tuple(s for s in SIZES if s <= holders) or (holders,)
    if len(sizes) < 2:
        sizes = (max(1, sizes[0] // 2), sizes[0])
    with Anvil() as w3:
        return measure(w3, sizes=sizes, log=log)
