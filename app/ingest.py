"""Ingestion: a vault's logs (and payment-token deposits into it) become ledger facts.

Each step reads one block range from the cursor to head - confirmations, decodes it, and hands
the facts to `PayoutLedger.apply_chain_facts`, which saves them with the new cursor in one
transaction. A crash anywhere replays the range; a log that cannot be decoded is recorded on
the cursor and skipped; a reorg below the cursor halts ingestion with ReorgDetected.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Any
from uuid import UUID

from web3 import Web3
from web3._utils.events import get_event_data

from app.failpoints import failpoint
from app.follow import notifications
from app.ledger import PayoutLedger
from chain import ats_abi
from chain.contracts import ROLES, load_artifact, role
from chain.encoding import ledger_id
from chain.errors import decode_revert
from chain.gateway import EvmGateway
from chain.logs import JsonRpcLogSource, Log, LogSource
from domain import chain_facts as f
from domain.asset import Asset
from domain.vault_admin import SETTLING_LOG


def _log_topic(signature: str) -> str:
    """An EVM log's topic 0: the keccak of its event signature (not a ledger event's topic)."""
    return "0x" + Web3.keccak(text=signature).hex().removeprefix("0x")


TRANSFER_TOPIC = _log_topic("Transfer(address,address,uint256)")
# ATS ISnapshotsStorageWrapper: SnapshotTaken(address indexed operator, uint256 indexed snapshotID)
SNAPSHOT_TOPIC = _log_topic("SnapshotTaken(address,uint256)")


ADMINISTERED = frozenset(SETTLING_LOG.values())  # the logs that settle a vault request
_ROLE_NAMES = {role(name): name for name in ("DEFAULT_ADMIN", *ROLES)}


def administration_detail(name: str, args: Any) -> str:
    """What a vault administration log says, for the ledger and the panel."""
    if name in ("RoleGranted", "RoleRevoked"):
        raw = bytes(args["role"])
        verb = "granted to" if name == "RoleGranted" else "revoked from"
        return (f"{_ROLE_NAMES.get(raw, '0x' + raw.hex())} {verb} {args['account']}"
                f" by {args['sender']}")
    if name in ("Paused", "Unpaused"):
        return f"by {args['account']}"
    if name == "Upgraded":
        return f"implementation {args['implementation']}"
    return ""


def _bits(word: int, bits: int) -> tuple[int, ...]:
    return tuple(word * 256 + j for j in range(256) if bits >> j & 1)


def _hex(value: Any) -> str:
    return "0x" + bytes(value).hex() if not isinstance(value, str) else value


@dataclass
class VaultIngestor:
    ledger: PayoutLedger
    source: LogSource
    w3: Web3
    chain_id: int
    asset_id: UUID
    vault: str
    payment_token: str
    from_block: int = 0
    confirmations: int = 0  # 0 on Hedera, which has finality
    security_token: str | None = None  # its transfers and snapshots are ingested too
    max_blocks_per_step: int = 2_000

    @cached_property
    def _vault_events(self) -> dict[str, Any]:
        abi = load_artifact("PayoutVault").abi
        codec = self.w3.codec
        out = {}
        for item in abi:
            if item["type"] == "event":
                types = ",".join(i["type"] for i in item["inputs"])
                topic = "0x" + Web3.keccak(text=f"{item['name']}({types})").hex().removeprefix("0x")
                out[topic] = (item, codec)
        return out

    def step(self) -> int:
        """Ingest the next range; returns the number of facts (0 when caught up)."""
        return self._step()[0]

    def catch_up(self) -> int:
        """Step until a step finds nothing new: one cursor read and one head per step, and a
        block mined during a step is taken at once rather than at the next poll."""
        total = 0
        while True:
            facts, caught_up = self._step()
            total += facts
            if caught_up:
                return total

    def _step(self) -> tuple[int, bool]:
        """(facts, whether the cursor was already at head - confirmations)."""
        cursor = self.ledger.get_cursor(self.chain_id, self.vault)
        start = cursor.last_block + 1 if cursor else self.from_block
        final = self.source.head() - self.confirmations
        if start > final:
            return 0, True
        end = min(final, start + self.max_blocks_per_step - 1)
        at_cursor = self.source.block_hash(cursor.last_block) if cursor and cursor.last_hash \
            else None
        vault_logs = self.source.logs(self.vault, start, end)
        to_vault = "0x" + "0" * 24 + self.vault[2:].lower()
        deposits = self.source.logs(self.payment_token, start, end,
                                    [TRANSFER_TOPIC, None, to_vault])
        token_logs = self.source.logs(self.security_token, start, end, [
            [TRANSFER_TOPIC, SNAPSHOT_TOPIC, ats_abi.CONTROLLER_REDEMPTION_TOPIC]],  # type: ignore[list-item]
        ) if self.security_token else []
        # Consensus order: by block, transaction, log. A Mirror Node's `logIndex` counts within
        # its transaction (chain.hedera.mirror_logs); JSON-RPC's within the block, unchanged.
        logs = sorted(vault_logs + deposits + token_logs,
                      key=lambda g: (g["blockNumber"], g.get("transactionIndex") or 0,
                                     g["logIndex"]))
        facts = f.claims_not_paid(f.coalesce_paid(
            fact for log in logs for fact in self._decode(log)))
        failpoint("ingest-mid-range")
        self.ledger.apply_chain_facts(
            chain_id=self.chain_id, contract=self.vault, from_block=self.from_block,
            to_block=end, block_hash=self.source.block_hash(end) or "",
            chain_hash_at_cursor=at_cursor, facts=facts)
        return len(facts), False

    def _decode(self, log: Log) -> list[f.ChainFact]:
        tx = _hex(log["transactionHash"])
        try:
            if log["address"].lower() == self.payment_token.lower():
                return [self._deposit(log, tx)]
            if self.security_token and log["address"].lower() == self.security_token.lower():
                return [self._share_log(log, tx)]
            topic0 = _hex(log["topics"][0]) if log["topics"] else ""
            abi, codec = self._vault_events[topic0]  # KeyError: not a vault event we know
            decoded = get_event_data(codec, abi, log)
            return self._vault_fact(decoded["event"], decoded["args"], tx)
        except Exception as err:  # noqa: BLE001 - an unreadable log is recorded, never fatal
            return [f.UnreadableLog(int(log["blockNumber"]), tx, int(log["logIndex"]),
                                    str(log["address"]), f"undecodable: {err}")]

    def _deposit(self, log: Log, tx: str) -> f.ChainFact:
        sender = "0x" + _hex(log["topics"][1])[-40:]
        amount = int.from_bytes(bytes(log["data"]), "big")
        return f.VaultDeposit(self.asset_id, self.vault, self.payment_token,
                              Web3.to_checksum_address(sender), amount, tx)

    def _share_log(self, log: Log, tx: str) -> f.ChainFact:
        topics = [_hex(t) for t in log["topics"]]
        block, index = int(log["blockNumber"]), int(log["logIndex"])
        if topics[0] == SNAPSHOT_TOPIC:
            return f.TokenSnapshotTaken(self.asset_id, int(topics[2], 16), tx, block)
        if topics[0] == ats_abi.CONTROLLER_REDEMPTION_TOPIC:
            controller, units = ats_abi.decode_controller_redemption(bytes(log["data"]))
            return f.UnitsRedeemed(self.asset_id, Web3.to_checksum_address(controller),
                                   Web3.to_checksum_address("0x" + topics[1][-40:]), units, tx)
        sender, recipient = (Web3.to_checksum_address("0x" + t[-40:]) for t in topics[1:3])
        amount = int.from_bytes(bytes(log["data"]), "big")
        return f.ShareTransfer(self.asset_id, sender, recipient, amount, tx, block, index)

    def _vault_fact(self, name: str, args: Any, tx: str) -> list[f.ChainFact]:
        if name == "Swept":
            return [f.VaultSwept(self.vault, args["token"], args["treasury"], args["amount"], tx)]
        if name in ADMINISTERED:  # settles our request, or is recorded as observed
            return [f.VaultAdministered(self.asset_id, self.vault, name, tx,
                                        administration_detail(name, args))]
        if "distributionId" not in args:
            return []  # vault administration (treasury, transfer gas): no ledger effect
        did = ledger_id(bytes(args["distributionId"]))
        if did is None:
            raise ValueError("a distribution this service did not announce")
        match name:
            case "Paid":
                return [f.LeavesPaid(did, _bits(args["wordIndex"], args["paidBits"]), tx)]
            case "AlreadyPaid":
                return [f.LeavesAlreadyPaid(did, _bits(args["wordIndex"], args["skippedBits"]), tx)]
            case "PaymentFailed":
                reason = bytes(args["reason"])
                text = str(decode_revert(reason)) if len(reason) >= 4 else f"0x{reason.hex()}"
                return [f.LeafFailed(did, args["index"], args["account"], text, tx)]
            case "BatchSettled":
                return [f.BatchSettledOnChain(did, args["firstIndex"], args["count"],
                                              args["paid"], args["failed"], args["skipped"],
                                              args["amountPaid"], tx, self.source.gas_used(tx))]
            case "Claimed":
                return [f.LeafClaimed(did, args["index"], args["account"], args["amount"], tx)]
            case "Reclaimed":
                return [f.DistributionReclaimed(did, args["treasury"], args["amount"], tx)]
        return []  # Announced, …: recorded by the commands that caused them


def assets_with_vaults(ledger: PayoutLedger) -> Iterator[Asset]:
    """Every asset that pays through a vault, found in the ledger's own log rather than the
    assets read model: ingestion must not depend on the projector running."""
    seen = {UUID(str(n.originator_id))
            for n in notifications(ledger, Asset.Imported, Asset.VaultLinked)}
    for asset_id in sorted(seen):
        asset = ledger.get_asset(asset_id)
        if asset.vault_address:
            yield asset


def ingest_vaults(ledger: PayoutLedger, gateway: EvmGateway, *, confirmations: int,
                  from_block: int = 0, source: LogSource | None = None) -> int:
    """One pass over every asset's vault: catch each up to head - confirmations. `source`:
    where logs come from (a Mirror Node on Hedera); JSON-RPC through the gateway by default."""
    w3, chain_id = gateway.w3, gateway.chain_id
    source = source or JsonRpcLogSource(w3)
    total = 0
    for asset in assets_with_vaults(ledger):
        total += VaultIngestor(
            ledger, source, w3, chain_id, asset.id, str(asset.vault_address),
            asset.payment_token, from_block=from_block, confirmations=confirmations,
            security_token=asset.token_address).catch_up()
    return total
