"""HTS rail benchmark: a distribution of `holders` paid by native transfers on the STAND-IN
Hedera network (devtools.hedera_standin; the real network cannot be reached from here).

Every batch goes the rail's whole way (plan, prepare with a chosen TransactionId, sign,
submit over gRPC with hiero-sdk-python, receipt), so the figures are those of real signed
transactions: transactions per holder, signed bytes per transaction against the 6,144-byte
limit, and the hbar fee per holder the stand-in charged from its fee table (devtools/
hedera_standin/fees.py: Hedera's published base fees at a pinned hbar price, not the
network's exact fee).

Beside it, the vault path on Hedera: our real PayoutVault's gas, measured here on anvil (two
batches of fresh payees, fitted `gas = fixed + per holder * n` as `bench gas` does), cut into
the batches the planner makes on Hedera's relay profile, priced at Hedera's published USD
price per unit of gas for a contract call (below). Both sides are in USD, so neither depends
on the hbar price of the day. Last line: holders, transactions_per_holder,
bytes_per_transaction, fee_per_holder_usd, vault_fee_per_holder_usd and their ratio.

`unassociated` (percent) leaves that share of the holders, spread at random (seeded), not
associated with the token: each batch then goes as the worker sends it (domain/hts_links.py,
from the Mirror Node stand-in's relationships): its unassociated holders one TokenAirdrop
(pending until they claim), the rest one transfer. The figures then include the airdrops.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

from hiero_sdk_python import AccountId, Client, PrivateKey, TokenId

from chain.hedera.hts_rail import HtsRail, SubmitResult
from chain.hedera.hts_signer import LocalHederaSigner
from devtools.hedera_standin import StandinNetwork
from devtools.hedera_standin.fees import HBAR_PRICE_CENTS, TINYBARS_PER_HBAR
from devtools.hedera_standin.history import StandinHistory
from domain.hts_links import next_transaction
from domain.hts_planning import HtsLeg, plan_hts_batches
from domain.network import network_profile
from domain.planning import GasModel

# Hedera's USD price of one unit of gas for a contract call (ContractCall/EthereumTransaction,
# the HAPI fee rolled into it): $0.0000000852. Source: "Gas and Fees",
# https://docs.hedera.com/guides/core-concepts/smart-contracts/gas-and-fees ("Contract call
# transaction USD/gas conversion rate is $0.000_000_0852"), and Hedera's blog "Rolling Smart
# Contract Hedera API Fees into Gas Fees" (2022-06-14); read 2026-12-04. Charged on gas used
# (HIP-1249 removed the minimum charge on the gas limit).
CONTRACT_CALL_USD_PER_GAS = 0.0000000852
VAULT_SIZES = (50, 100)  # fresh payees per measured vault batch (anvil)


def vault_gas_per_holder(holders: int, log: Callable[[str], None]) -> tuple[float, dict[str, Any]]:
    """Our vault's gas per holder for a `holders` distribution on Hedera: measured batches on
    anvil, fitted, then cut as the planner cuts them under Hedera's gas and calldata caps."""
    from bench.gas import _Bench, _fit
    from devtools.devchain import Anvil

    with Anvil() as w3:
        bench = _Bench(w3, log)
        points = [(n, bench.ours("fresh", n)) for n in VAULT_SIZES]
    fixed, per = _fit(points)
    model = GasModel.for_network(network_profile("hedera-mainnet"))
    per_batch = model.capacity(holders)
    batches = -(-holders // per_batch)
    total = batches * fixed + holders * per
    return total / holders, {"vault_gas_fixed": round(fixed), "vault_gas_per_leaf": round(per),
                             "vault_holders_per_batch": per_batch, "vault_batches": batches,
                             "vault_measured": {str(n): g for n, g in points}}


def run(*, holders: int | None = None, unassociated: float = 0.0,
        log: Callable[[str], None] = print) -> dict[str, Any]:
    count = holders or 10_000
    if not 0 <= unassociated <= 100:
        raise ValueError("--unassociated is a percentage of the holders, 0 to 100")
    newcomers = set(random.Random(7).sample(range(count), round(count * unassociated / 100)))
    with StandinNetwork() as net:
        key = PrivateKey.generate_ed25519()
        treasury = net.create_account("ed25519", key.public_key().to_bytes_raw(), 10**14)
        token = net.create_token(treasury, 10**15)
        legs = []
        for i in range(count):
            number = net.create_account("ed25519", b"\x01" * 32, 0)  # holders never sign
            if i not in newcomers:
                net.associate(number, token)
            legs.append(HtsLeg(i, (0, 0, number), 1_000 + i))
        clients = [Client.for_network({net.address: AccountId(0, 0, 3)}) for _ in range(2)]
        rail = HtsRail(client=clients[0], lookup_client=clients[1],
                       payer=AccountId(0, 0, treasury), token=TokenId(0, 0, token),
                       signer=LocalHederaSigner(key), history=StandinHistory(net),
                       clock=net.ledger.clock.now)
        plans = list(plan_hts_batches((0, 0, treasury), legs))
        log(f"paying {count} holders ({len(newcomers)} not associated) in {len(plans)}"
            " batches on the stand-in network")
        fees_before, sizes, kinds = net.tinybars(treasury), [], []
        started = time.perf_counter()
        for plan in plans:
            # as the worker sends a batch: grouped by the holders' relationships
            links = rail.token_links([leg.account for leg in plan.legs])
            remaining = list(plan.legs)
            while remaining:
                kind, group = next_transaction(remaining, links)
                prepare = rail.prepare_airdrop if kind == "airdrop" else rail.prepare_transfer
                prepared = prepare(group, rail.next_valid_start_ns())
                sizes.append(prepared.size)
                kinds.append(kind)
                if rail.submit(prepared).result is not SubmitResult.ACCEPTED:
                    raise RuntimeError(f"batch {plan.number} was not accepted")
                if rail.fate(prepared.transaction_id, prepared.window).status != "SUCCESS":
                    raise RuntimeError(f"batch {plan.number} did not succeed")
                remaining = [leg for leg in remaining if leg not in group]
        seconds = time.perf_counter() - started
        fee = fees_before - net.tinybars(treasury)
        for client in clients:
            client.close()
    paid = sum(1 for leg in legs if net.token_balance(leg.account[2], token) == leg.amount)
    pending = sum(1 for leg in legs if net.ledger.pending_airdrops.get(
        (treasury, leg.account[2], token)) == leg.amount)
    if paid + pending != count:
        raise RuntimeError(f"{count - paid - pending} holders neither paid nor pending")
    fee_per_holder = fee / count
    # tinybars -> USD at the stand-in's pinned rate: it charged USD fees converted at that rate
    fee_usd = fee_per_holder / TINYBARS_PER_HBAR * HBAR_PRICE_CENTS / 100
    log("measuring the vault path: our PayoutVault on anvil")
    vault_gas, vault = vault_gas_per_holder(count, log)
    vault_usd = vault_gas * CONTRACT_CALL_USD_PER_GAS
    result = {
        "bench": "hts", "holders": count, "paid": paid, "unassociated": len(newcomers),
        "pending_airdrops": pending, "transactions": len(kinds),
        "transfers": kinds.count("transfer"), "airdrops": kinds.count("airdrop"),
        "transactions_per_holder": round(len(kinds) / count, 4),
        "bytes_per_transaction": round(sum(sizes) / len(sizes), 1),
        "bytes_per_transaction_max": max(sizes), "byte_limit": 6_144,
        "fee_tinybars_per_holder": round(fee_per_holder, 1),
        "fee_per_holder_usd": round(fee_usd, 7),
        "hbar_price_usd_assumed": HBAR_PRICE_CENTS / 100,
        "vault_gas_per_holder": round(vault_gas), **vault,
        "vault_usd_per_gas": CONTRACT_CALL_USD_PER_GAS,
        "vault_fee_per_holder_usd": round(vault_usd, 7),
        "fee_ratio_hts_to_vault": round(fee_usd / vault_usd, 4),
        "seconds": round(seconds, 2), "holders_per_second": round(count / seconds, 1),
    }
    log(f"{paid}/{count} paid, {pending} pending airdrops,"
        f" {result['bytes_per_transaction_max']} bytes at most,"
        f" {result['fee_per_holder_usd']} USD a holder; the vault on Hedera"
        f" {result['vault_fee_per_holder_usd']} USD ({result['fee_ratio_hts_to_vault']} of it)")
    return result
