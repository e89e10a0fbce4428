"""Network profiles: what a chain's JSON-RPC endpoint allows, chosen by `CHAIN_NETWORK`.

A generic EVM node and Hedera's JSON-RPC relay differ in ways that change how a payout is cut
and sent, so they are named facts here rather than `if hedera` tests spread over the code:
- gas: Hedera caps a transaction at 15M gas (the relay's `MAX_TRANSACTION_GAS_LIMIT`);
- calldata: the relay refuses call data over 131,072 bytes (`CALL_DATA_SIZE_LIMIT`) and a
  signed transaction over 133,120 bytes (`SEND_RAW_TRANSACTION_SIZE_LIMIT`), both defaults of
  hiero-json-rpc-relay's `packages/config-service/src/services/globalConfig.ts`, matching
  consensus' HIP-1086 jumbo EthereumTransaction limits; a batch is sized by gas AND bytes;
- fees: the network charges one fixed gas price; there is no priority tip to bid;
- nonces: there is no pending pool, a transaction is final or unknown, so the next nonce is
  the `latest` count;
- the HTS token service at 0x167: the vault must associate itself with an HTS payment token.

A profile names the chain ids it may run on, so a Hedera profile pointed at another chain, or
the generic profile pointed at Hedera, is refused before anything is sent: the vault's
association (only done on a Hedera profile) can never be skipped by a wrong setting.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from domain.errors import InvalidInput

HEDERA_TX_GAS_CAP = 15_000_000
HEDERA_CALL_DATA_LIMIT = 131_072
HEDERA_RAW_TX_LIMIT = 133_120
HEDERA_CHAIN_IDS = {"hedera-mainnet": 295, "hedera-testnet": 296, "hedera-previewnet": 297,
                    "hedera-local": 298}


class NetworkMismatch(InvalidInput):
    """The node's chain id is not one the chosen network profile runs on."""


@dataclass(frozen=True, slots=True)
class NetworkProfile:
    name: str
    chain_id: int | None  # None: any chain that is not Hedera's
    gas_cap: int | None  # per transaction; None: only the block's limit
    max_calldata_bytes: int | None  # None: no limit below the node's own
    fixed_gas_price: bool  # True: pay the node's gas price, no EIP-1559 tip
    nonce_block: Literal["pending", "latest"]

    @property
    def hedera(self) -> bool:
        return self.chain_id in HEDERA_CHAIN_IDS.values()

    def check_chain(self, chain_id: int) -> None:
        """Refuse a node this profile does not describe; never guess which profile is right."""
        if self.chain_id is not None and chain_id != self.chain_id:
            raise NetworkMismatch(f"CHAIN_NETWORK={self.name} runs on chain {self.chain_id},"
                                  f" the node serves chain {chain_id}")
        if self.chain_id is None and chain_id in HEDERA_CHAIN_IDS.values():
            name = next(n for n, i in HEDERA_CHAIN_IDS.items() if i == chain_id)
            raise NetworkMismatch(f"the node serves Hedera's chain {chain_id}: set"
                                  f" CHAIN_NETWORK={name}")


EVM = NetworkProfile("evm", chain_id=None, gas_cap=None, max_calldata_bytes=None,
                     fixed_gas_price=False, nonce_block="pending")
PROFILES: dict[str, NetworkProfile] = {
    "evm": EVM,
    **{name: NetworkProfile(name, chain_id=chain_id, gas_cap=HEDERA_TX_GAS_CAP,
                            max_calldata_bytes=HEDERA_CALL_DATA_LIMIT, fixed_gas_price=True,
                            nonce_block="latest")
       for name, chain_id in HEDERA_CHAIN_IDS.items()},
}


def network_profile(name: str) -> NetworkProfile:
    try:
        return PROFILES[name]
    except KeyError:
        raise InvalidInput(f"unknown network {name!r}: one of {', '.join(PROFILES)}") from None
