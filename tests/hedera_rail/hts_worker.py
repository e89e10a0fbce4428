"""A worker process for the crash tests: pays one batch on the HTS rail against the STAND-IN
Hedera network (another process's gRPC server) with a failpoint armed, which SIGKILLs it at
that exact line. Configured by environment variables; it never reads the Mirror Node (it dies
before it would)."""

from __future__ import annotations

import os
import uuid

from hiero_sdk_python import AccountId, Client, TokenId

from app import failpoints
from app.hts_executor import HtsBatchExecutor
from chain.hedera.errors import MirrorNodeUnavailable
from chain.hedera.hts_history import HistoryAnswer
from chain.hedera.hts_rail import HtsRail
from chain.hedera.hts_signer import LocalHederaSigner
from runtime.engines import open_ledger


class _NoHistory:
    def lookup(self, transaction_id: str) -> HistoryAnswer:
        raise RuntimeError(f"the crashed worker must not get as far as {transaction_id}")

    def token_links(self, accounts: object, token: str) -> dict[str, object]:
        # no Mirror Node here: the worker pays the batch as planned (every holder UNKNOWN)
        raise MirrorNodeUnavailable("the crashed worker has no Mirror Node")


def main() -> None:
    env = os.environ
    payer = AccountId(0, 0, int(env["HTS_PAYER"]))
    signer = LocalHederaSigner.from_env(env)

    def client() -> Client:
        made = Client.for_network({env["HTS_NODE"]: AccountId(0, 0, 3)})
        made.set_operator_with(payer, signer.public_key, signer.sign)
        # One try per call: a lost answer is the rail's to resolve (by TransactionId), and
        # the SDK would otherwise bench the node for 8 s and try again.
        made.set_max_attempts(int(env.get("HTS_MAX_ATTEMPTS", "10")))
        return made

    rail = HtsRail(client=client(), lookup_client=client(), payer=payer,
                   token=TokenId(0, 0, int(env["HTS_TOKEN"])), signer=signer,
                   history=_NoHistory())
    failpoints.arm(env["MASS_PAYOUT_FAILPOINT"])
    ledger = open_ledger(env["DATABASE_URL"], env["HTS_SCHEMA"])
    HtsBatchExecutor(ledger, rail).execute(uuid.UUID(env["HTS_BATCH"]))
    raise SystemExit("the failpoint did not fire")


if __name__ == "__main__":
    main()
