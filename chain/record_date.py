"""The token snapshot that freezes a distribution's holders at its record date.

- A corporate action's distribution uses the action's own snapshot, which an ATS token takes
  at its record date (its first balance change after it); if none is taken yet we take it with
  `triggerPendingScheduledCrossOrderedTasks()` (callable by anyone, a no-op when not due).
- Any other distribution uses the first snapshot the token took at or after its record date;
  if there is none yet, we take one (our signer needs the token's CORPORATE_ACTION_ROLE).

Both are repeatable: a crash after the snapshot transaction is repaired by finding that
snapshot on the next run, never by guessing an id.
"""

from __future__ import annotations

from datetime import datetime

from chain import ats_abi as ats
from chain.contracts import at
from chain.errors import ChainError
from chain.gateway import EvmGateway
from chain.sending import send_and_wait
from chain.signer import Signer
from chain.token_reader import action_snapshot_id

SNAPSHOT_GAS = 120_000
TRIGGER_GAS = 400_000  # a few due record dates at once


class RecordDateError(ChainError):
    """The token cannot give a snapshot for this record date yet (or ever)."""


def action_snapshot(gateway: EvmGateway, signer: Signer, token_address: str,
                    action_id: int, *, coupon: bool) -> int:
    """The snapshot of dividend (or, `coupon`, coupon) `action_id`, taking it if it is due."""
    w3 = gateway.w3
    found = action_snapshot_id(w3, token_address, coupon=coupon, action_id=action_id)
    if found:  # already taken (by a transfer, by us or by anyone)
        return found
    # No pre-check on the latest block's time: a quiet dev chain's last block can be hours
    # old. The trigger takes nothing if the record date has not passed on the chain's clock.
    send_and_wait(gateway, signer, to=w3.to_checksum_address(token_address),
                  data="0x" + ats.TRIGGER_PENDING_TASKS.calldata().hex(), gas=TRIGGER_GAS)
    found = action_snapshot_id(w3, token_address, coupon=coupon, action_id=action_id)
    if not found:
        raise RecordDateError(f"{'coupon' if coupon else 'dividend'} {action_id}: the token"
                              " took no snapshot: its record date has not passed on the chain")
    return found


def snapshot_at_or_after(gateway: EvmGateway, signer: Signer, token_address: str,
                         record_date: datetime) -> int:
    """The caller has checked, by its clock, that the record date has passed."""
    found = _first_snapshot_since(gateway, token_address, int(record_date.timestamp()))
    if found is not None:
        return found
    send_and_wait(gateway, signer, to=gateway.w3.to_checksum_address(token_address),
                  data="0x" + ats.TAKE_SNAPSHOT.calldata().hex(), gas=SNAPSHOT_GAS)
    found = _first_snapshot_since(gateway, token_address, int(record_date.timestamp()))
    if found is None:
        raise RecordDateError(f"the chain's clock is behind the record date {record_date}:"
                              " the snapshot just taken is stamped before it")
    return found


def _first_snapshot_since(gateway: EvmGateway, token_address: str, moment: int) -> int | None:
    """The lowest snapshot id taken in a block stamped at or after `moment`.

    Reads the token's SnapshotTaken logs newest first and stops at the first block older than
    the record date, so the scan is as long as the record date is old, not the chain."""
    w3 = gateway.w3
    token = at(w3, "SecurityToken", token_address)
    best: int | None = None
    head = int(w3.eth.block_number)
    step = 5_000
    high = head
    while high >= 0:
        low = max(0, high - step + 1)
        logs = sorted(token.events.SnapshotTaken().get_logs(from_block=low, to_block=high),
                      key=lambda e: (e["blockNumber"], e["logIndex"]), reverse=True)
        for entry in logs:
            if int(w3.eth.get_block(entry["blockNumber"])["timestamp"]) < moment:
                return best
            best = int(entry["args"]["snapshotID"])
        if low == 0 or int(w3.eth.get_block(low)["timestamp"]) < moment:
            return best
        high = low - 1
    return best
