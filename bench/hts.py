"""HTS rail benchmark: a distribution of `holders` paid by native transfers on the STAND-IN
Hedera network (devtools.hedera_standin; the real network cannot be reached from here).

Every batch goes the rail's whole way (plan, prepare with a chosen TransactionId, sign,
submit over gRPC with hiero-sdk-python, receipt), so the figures are those of real signed
transactions: transactions per holder, signed bytes per transaction against the 6,144-byte
limit, and the hbar fee per holder the stand-in charged from its fee table (devtools/
hedera_standin/fees.py: Hedera's published base fees at a pinned hbar price, not the
network's exact fee). The vault path's figure for comparison is the planner's gas per holder
(domain/planning.py, measured by `mass-payout bench gas`); its hbar cost depends on the gas
price of the day, so it is reported in gas, not converted.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from hiero_sdk_python import AccountId, Client, PrivateKey, TokenId

from chain.hedera.hts_rail import HtsRail, SubmitResult
from chain.hedera.hts_signer import LocalHederaSigner
from devtools.hedera_standin import StandinNetwork
from devtools.hedera_standin.fees import HBAR_PRICE_CENTS, TINYBARS_PER_HBAR
from devtools.hedera_standin.history import StandinHistory
from domain.hts_planning import HtsLeg, plan_hts_batches
from domain.planning import GasModel


def run(*, holders: int | None = None, log: Callable[[str], None] = print) -> dict[str, Any]:
    count = holders or 10_000
    with StandinNetwork() as net:
        key = PrivateKey.generate_ed25519()
        treasury = net.create_account("ed25519", key.public_key().to_bytes_raw(), 10**14)
        token = net.create_token(treasury, 10**15)
        legs = []
        for i in range(count):
            number = net.create_account("ed25519", b"\x01" * 32, 0)  # holders never sign
            net.associate(number, token)
            legs.append(HtsLeg(i, (0, 0, number), 1_000 + i))
        clients = [Client.for_network({net.address: AccountId(0, 0, 3)}) for _ in range(2)]
        rail = HtsRail(client=clients[0], lookup_client=clients[1],
                       payer=AccountId(0, 0, treasury), token=TokenId(0, 0, token),
                       signer=LocalHederaSigner(key), history=StandinHistory(net),
                       clock=net.ledger.clock.now)
        plans = list(plan_hts_batches((0, 0, treasury), legs))
        log(f"paying {count} holders in {len(plans)} transfers on the stand-in network")
        fees_before, sizes, started = net.tinybars(treasury), [], time.perf_counter()
        for plan in plans:
            prepared = rail.prepare_transfer(plan.legs, rail.next_valid_start_ns())
            sizes.append(prepared.size)
            if rail.submit(prepared).result is not SubmitResult.ACCEPTED:
                raise RuntimeError(f"batch {plan.number} was not accepted")
            if rail.fate(prepared.transaction_id, prepared.window).status != "SUCCESS":
                raise RuntimeError(f"batch {plan.number} did not succeed")
        seconds = time.perf_counter() - started
        fee = fees_before - net.tinybars(treasury)
        for client in clients:
            client.close()
    paid = sum(1 for leg in legs if net.token_balance(leg.account[2], token) == leg.amount)
    fee_per_holder = fee / count
    gas = GasModel()
    result = {
        "bench": "hts", "holders": count, "paid": paid, "transactions": len(plans),
        "tx_per_holder": round(len(plans) / count, 4),
        "bytes_per_tx_mean": round(sum(sizes) / len(sizes), 1), "bytes_per_tx_max": max(sizes),
        "byte_limit": 6_144,
        "fee_tinybars_per_holder": round(fee_per_holder, 1),
        "fee_usd_per_holder": round(fee_per_holder / TINYBARS_PER_HBAR * HBAR_PRICE_CENTS / 100,
                                    7),
        "hbar_price_usd_assumed": HBAR_PRICE_CENTS / 100,
        "vault_gas_per_holder": gas.per_leaf, "vault_gas_fixed_per_batch": gas.fixed_per_call,
        "seconds": round(seconds, 2), "holders_per_second": round(count / seconds, 1),
    }
    log(f"{paid}/{count} paid, {result['bytes_per_tx_max']} bytes at most,"
        f" {result['fee_usd_per_holder']} USD a holder")
    return result
