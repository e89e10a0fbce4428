"""The token snapshot that freezes a distribution's holders at its record date.

- A corporate action's distribution uses the action's own snapshot: `takeActionSnapshot(id)`
  once the record date has passed (callable by anyone, once), or the one already taken.
- Any other distribution uses the first snapshot the token took at or after its record date;
  if there is none yet, we take one (our signer needs the token's CORPORATE_ACTION_ROLE).

Both are repeatable: a crash after the snapshot transaction is repaired by finding that
snapshot on the next run, never by guessing an id.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chain.contracts import at, call
from chain.errors import ChainError
from chain.gateway import EvmGateway
from chain.sending import TransactionRevertedError, send_and_wait
from chain.signer import Signer

SNAPSHOT_GAS = 120_000


class RecordDateError(ChainError):
    """The token cannot give a snapshot for this record date yet (or ever)."""


def action_snapshot(gateway: EvmGateway, signer: Signer, token_address: str,
                    action_id: int) -> int:
    token = at(gateway.w3, "SecurityToken", token_address)
    action: Any = call(token.functions.getCorporateAction(action_id))
    if int(action[4]):  # struct field snapshotId: already taken (by us or anyone)
        return int(action[4])
    # No pre-check on the latest block's time: a quiet dev chain's last block can be hours
    # old. The token refuses (RecordDateNotReached) if the record date has not passed.
    data = token.encode_abi("takeActionSnapshot", args=[action_id])
    try:
        send_and_wait(gateway, signer, to=token.address, data=data, gas=SNAPSHOT_GAS)
    except TransactionRevertedError as err:
        if "SnapshotAlreadyTaken" not in str(err):  # someone else took it meanwhile
            raise RecordDateError(f"corporate action {action_id}: {err}") from err
    return int(call(token.functions.getCorporateAction(action_id))[4])


def snapshot_at_or_after(gateway: EvmGateway, signer: Signer, token_address: str,
                         record_date: datetime) -> int:
    """The caller has checked, by its clock, that the record date has passed."""
    token = at(gateway.w3, "SecurityToken", token_address)
    found = _first_snapshot_since(gateway, token_address, int(record_date.timestamp()))
    if found is not None:
        return found
    data = token.encode_abi("takeSnapshot", args=[])
    send_and_wait(gateway, signer, to=token.address, data=data, gas=SNAPSHOT_GAS)
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
            best = int(entry["args"]["snapshotId"])
        if low == 0 or int(w3.eth.get_block(low)["timestamp"]) < moment:
            return best
        high = low - 1
    return best
