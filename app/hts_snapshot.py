"""Freeze a distribution's holders from an HTS-native token's balances on the Mirror Node.

An HTS token has no snapshot function to call: who held it at the record date is what the
Mirror Node's balance snapshot at that consensus timestamp says (`chain.hedera.balances`,
which refuses a snapshot that does not add up to the supply, or a token of the wrong kind).
Everything is read and checked before the ledger is touched, so a refused snapshot records
nothing and the distribution stays where it was.
"""

from __future__ import annotations

from uuid import UUID

from app.ledger import PayoutLedger
from chain.hedera.balances import token_balances_at
from chain.hedera.ids import AccountResolver
from chain.hedera.mirror_client import MirrorNodeClient
from domain.distribution import Status
from domain.entitlements import Snapshot, Totals
from domain.errors import InvalidTerms
from domain.planning import GasModel


def snapshot_from_mirror_node(ledger: PayoutLedger, client: MirrorNodeClient,
                              distribution_id: UUID, *, timestamp: str, gas_model: GasModel,
                              token: str | None = None, resolver: AccountResolver | None = None,
                              vault_balance: int | None = None) -> Totals:
    """`timestamp`: the record date as a consensus timestamp (`seconds.nanoseconds`); `token`:
    the HTS token id, by default the one whose long-zero address the asset was imported by."""
    distribution = ledger.get_distribution(distribution_id)
    distribution.require_transition(Status.SNAPSHOTTED)  # refuse before reading the node
    asset = ledger.get_asset(distribution.asset_id)
    read = token_balances_at(client, resolver or AccountResolver(client),
                             token or asset.token_address, timestamp)
    if read.decimals != asset.decimals:
        raise InvalidTerms(f"{read.token_id} has {read.decimals} decimals on the network, the"
                           f" asset {asset.decimals}: not the token this asset was imported as")
    snapshot = Snapshot.from_chunks([sorted(read.balances.items())], decimals=asset.decimals)
    return ledger.snapshot_distribution(
        distribution_id, snapshot=snapshot, snapshot_ref=f"{read.token_id}@{read.timestamp}",
        gas_model=gas_model, vault_balance=vault_balance)
