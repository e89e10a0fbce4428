"""For the supervisor (app.owed_jobs): every approved vault request not yet settled is owed its
`mass-payout vault work` job, as approved treasury operations are (app.treasury).

Without this only the admin-key process's start-up pass (`app.vault_requests.resume`) found a
request whose job Redis lost, or RQ failed through an outage longer than its retries. A job run
again is harmless: the executor climbs the treasurer's ladder and never sends a request twice.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from functools import partial
from uuid import UUID

from rq import Queue

from app.follow import Follower
from app.ledger import PayoutLedger
from app.owed_jobs import OwedJob
from app.vault_requests import dispatch, job_id
from domain.vault_admin import VaultOps

log = logging.getLogger(__name__)


class OwedVaultOpJobs:
    name = "vault_ops"

    def __init__(self, ledger: PayoutLedger, queue: Queue) -> None:
        self.ledger, self.queue = ledger, queue
        self._approvals = Follower(ledger, VaultOps.Approved)
        self._open: set[UUID] = set()  # VaultOps aggregates with a request possibly open

    def owed(self) -> Iterator[OwedJob]:
        self._open.update(UUID(str(n.originator_id)) for n in self._approvals.new())
        for ops_id in sorted(self._open):
            ops: VaultOps = self.ledger.repository.get(ops_id)
            numbers = ops.open_numbers
            if not numbers:  # every one settled; a new request comes back through its approval
                self._open.discard(ops_id)
            for number in numbers:
                yield OwedJob(self.queue, job_id(ops.asset_id, number),
                              partial(dispatch, self.queue, ops.asset_id, number), _gave_up)


def _gave_up(reason: str) -> None:
    # No event fits (nothing was sent); the admin process's next start runs it again.
    log.error("vault request left to an operator: %s", reason)
