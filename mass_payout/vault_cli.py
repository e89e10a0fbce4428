"""`mass-payout vault deploy | associate | pause | unpause | grant | revoke | upgrade`.

`deploy`: the PayoutVault behind its ERC1967 proxy, signed by the service's
own signer (keystore, MASS_PAYOUT_PRIVATE_KEY, or the dev key on a loopback dev chain), so the
same command works on a dev node and on a real network.

Everything that can be refused is refused before the first transaction: a malformed address,
a missing RPC_URL, a node serving another chain than CHAIN_ID or than CHAIN_NETWORK's, a signer
that cannot be built, a Hedera network without a `--payment-token` to associate the vault with.
A refusal is one line on stderr and exit code 2 (as `schedules`); a failure once sending has
begun is exit code 1 and says what was already deployed.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from app.vault_ops import VaultAdmin, VaultOpDone
    from chain.gateway import EvmGateway
    from chain.signer import Signer
    from runtime.settings import Settings

app = typer.Typer(no_args_is_help=True, help="The PayoutVault contract the workers pay through.")

Accounts = Annotated[list[str] | None, typer.Option(
    help="repeat for several; default: the signer's address")]


def _refuse(message: str) -> typer.Exit:
    typer.echo(f"refused: {message}", err=True)
    return typer.Exit(2)


def _account(option: str, value: str) -> str:
    """The service's spelling of an account (a Hedera id is its long-zero address); the zero
    address is refused here rather than by the vault after gas is spent."""
    from domain import accounts
    from domain.errors import InvalidAccount

    try:
        address = accounts.canonical(value)
    except InvalidAccount as err:
        raise _refuse(f"{option}: {err}") from None
    if int(address, 16) == 0:
        raise _refuse(f"{option}: the zero address")
    return address


@contextlib.contextmanager
def _signing(settings: Settings, rpc_url: str) -> Iterator[tuple[EvmGateway, Signer]]:
    """The chain and this process's signer for one command (the signer's nonce lock is a
    PostgreSQL advisory lock, hence the database); a bad key or a wrong CHAIN_ID is one line."""
    from chain.errors import ChainError
    from runtime.bootstrap import gateway_for, signer_for
    from runtime.engines import database
    from runtime.settings import ConfigurationError

    with database(settings) as url:
        try:
            gateway = gateway_for(settings, rpc_url, url)
            signer = signer_for(settings, gateway.w3)
        except (ChainError, ConfigurationError) as err:
            raise _refuse(str(err)) from None
        try:
            yield gateway, signer
        finally:
            gateway.close()


@app.command("deploy")
def deploy(treasury: Annotated[str, typer.Option(
               help="where reclaimed and swept funds go (required)")],
           admin: Annotated[str | None, typer.Option(
               help="DEFAULT_ADMIN: grants roles, sets the treasury; default: the signer")]
           = None,
           operator: Accounts = None,
           approver: Accounts = None,
           payment_token: Annotated[list[str] | None, typer.Option(
               help="on Hedera (CHAIN_NETWORK=hedera-*): an HTS token the vault pays in and"
                    " associates itself with; repeat for several; required there")] = None,
           as_json: Annotated[bool, typer.Option("--json", help="last line: one JSON object")]
           = False) -> None:
    """Deploy the vault and grant OPERATOR (pays batches) and APPROVER (commits roots); on
    Hedera the vault associates itself with each `--payment-token` (HTS) in the deploy.

    The workers sign with the operator's key and the scheduler with the approver's: in one
    deployment where every process has the same signer, the defaults are what it needs.
    """
    from chain.contracts import deploy_vault_signed
    from runtime.settings import Settings

    # Every input is checked before the chain is asked anything.
    treasury = _account("--treasury", treasury)
    tokens = list(dict.fromkeys(_account("--payment-token", t) for t in payment_token or []))
    chosen = {"admin": [_account("--admin", admin)] if admin else [],
              "operator": [_account("--operator", a) for a in operator or []],
              "approver": [_account("--approver", a) for a in approver or []]}
    settings = Settings.from_env()
    if not settings.rpc_url:
        raise _refuse("set RPC_URL: the chain to deploy on")
    if settings.chain_network.startswith("hedera") and not tokens:
        raise _refuse(f"CHAIN_NETWORK={settings.chain_network}: name the vault's HTS payment"
                      " token (--payment-token), which it must be associated with to be funded")
    with _signing(settings, settings.rpc_url) as (gateway, signer):
        roles = {name: list(dict.fromkeys(found)) or [signer.address]
                 for name, found in chosen.items()}
        try:
            done = deploy_vault_signed(gateway, signer, admin=roles["admin"][0],
                                       treasury=treasury,
                                       grants={"OPERATOR": roles["operator"],
                                               "APPROVER": roles["approver"]},
                                       payment_tokens=tokens)
        except Exception as err:  # noqa: BLE001  # one line, not a traceback: it says what is left
            typer.echo(f"vault deploy failed ({type(err).__name__}): {err}; what was mined"
                       f" before stays (see {signer.address}'s transactions): deploy again",
                       err=True)
            raise typer.Exit(1) from None
    typer.echo(f"vault {done.address} (implementation {done.implementation}) deployed by"
               f" {signer.address} on chain {gateway.chain_id} in {done.tx_hash}")
    typer.echo(f"admin {roles['admin'][0]}; operator {', '.join(roles['operator'])};"
               f" approver {', '.join(roles['approver'])}; treasury {treasury}")
    if done.associated:
        typer.echo(f"associated with HTS {', '.join(done.associated)}")
    if as_json:
        print(json.dumps({"vault": done.address, "tx_hash": done.tx_hash,
                          "chain_id": gateway.chain_id, "admin": roles["admin"][0],
                          "operator": roles["operator"], "approver": roles["approver"],
                          "associated": list(done.associated)}))


@app.command("associate")
def associate(vault: Annotated[str, typer.Option(help="the vault (its proxy's address)")],
              payment_token: Annotated[list[str], typer.Option(
                  help="an HTS token the vault will pay in; repeat for several")]) -> None:
    """On Hedera: associate the vault with an HTS payment token added after its deploy.

    Signed by the configured signer, which must hold the vault's DEFAULT_ADMIN role. A token
    already associated is fine; a token the network refuses stops with its response code.
    """
    from chain.contracts import associate_vault_signed
    from runtime.settings import Settings

    address = _account("--vault", vault)
    tokens = list(dict.fromkeys(_account("--payment-token", t) for t in payment_token))
    settings = Settings.from_env()
    if not settings.rpc_url:
        raise _refuse("set RPC_URL: the chain the vault is on")
    if not settings.chain_network.startswith("hedera"):
        raise _refuse(f"CHAIN_NETWORK={settings.chain_network}: only Hedera has HTS tokens to"
                      " associate")
    with _signing(settings, settings.rpc_url) as (gateway, signer):
        try:
            sent = associate_vault_signed(gateway, signer, vault=address, tokens=tokens)
        except Exception as err:  # noqa: BLE001  # one line: what was done and what was not
            typer.echo(f"vault associate failed ({type(err).__name__}): {err}", err=True)
            raise typer.Exit(1) from None
    for token, tx_hash in zip(tokens, sent, strict=True):
        typer.echo(f"vault {address} associated with HTS {token} in {tx_hash}")


# --- administration of a deployed vault: each signed by this process's key, each asked of
# the vault first (app.vault_ops), so a refusal is one line and nothing is sent ---

VaultOption = Annotated[str, typer.Option("--vault", help="the vault (its proxy's address)")]


def _administer(vault: str, action: Callable[[VaultAdmin], VaultOpDone], as_json: bool) -> None:
    from app.vault_ops import VaultAdmin, VaultOpRefused
    from runtime.settings import Settings

    address = _account("--vault", vault)
    settings = Settings.from_env()
    if not settings.rpc_url:
        raise _refuse("set RPC_URL: the chain the vault is on")
    with _signing(settings, settings.rpc_url) as (gateway, signer):
        try:
            done = action(VaultAdmin(gateway, signer, address))
        except VaultOpRefused as err:
            raise _refuse(str(err)) from None
        except Exception as err:  # noqa: BLE001  # one line, not a traceback
            typer.echo(f"failed ({type(err).__name__}): {err}", err=True)
            raise typer.Exit(1) from None
    typer.echo(f"{done.action}: {done.tx_hash} (signed by {signer.address})"
               + (f" {done.detail}" if done.detail else ""))
    if as_json:
        print(json.dumps({"action": done.action, "tx_hash": done.tx_hash,
                          "detail": done.detail, "signer": signer.address}))


JsonFlag = Annotated[bool, typer.Option("--json", help="last line: one JSON object")]


@app.command("pause")
def pause(vault: VaultOption, as_json: JsonFlag = False) -> None:
    """Pause the vault (PAUSER): no payment, claim, reclaim or sweep until unpaused."""
    _administer(vault, lambda v: v.pause(), as_json)


@app.command("unpause")
def unpause(vault: VaultOption, as_json: JsonFlag = False) -> None:
    """Unpause the vault (PAUSER)."""
    _administer(vault, lambda v: v.unpause(), as_json)


@app.command("grant")
def grant(role_name: Annotated[str, typer.Argument(
              metavar="ROLE", help="APPROVER, OPERATOR, PAUSER, TREASURER, UPGRADER or"
                                   " DEFAULT_ADMIN")],
          account: Annotated[str, typer.Argument(help="EVM address or Hedera id")],
          vault: VaultOption, as_json: JsonFlag = False) -> None:
    """Grant a vault role (signed by its admin)."""
    holder = _account("ACCOUNT", account)
    _administer(vault, lambda v: v.grant(role_name, holder), as_json)


@app.command("revoke")
def revoke(role_name: Annotated[str, typer.Argument(metavar="ROLE")],
           account: Annotated[str, typer.Argument(help="EVM address or Hedera id")],
           vault: VaultOption, as_json: JsonFlag = False) -> None:
    """Revoke a vault role (signed by its admin)."""
    holder = _account("ACCOUNT", account)
    _administer(vault, lambda v: v.revoke(role_name, holder), as_json)


@app.command("sweep-account")
def sweep_account(account: Annotated[str, typer.Argument(help="EVM address or Hedera id")],
                  vault: VaultOption,
                  remove: Annotated[bool, typer.Option(
                      "--remove", help="no longer allow it")] = False,
                  as_json: JsonFlag = False) -> None:
    """Allow an account (a tax authority, a dust account) as a `sweepTo` recipient (signed
    by the vault's admin); the treasury is always allowed."""
    holder = _account("ACCOUNT", account)
    _administer(vault, lambda v: v.allow_sweep_account(holder, not remove), as_json)


@app.command("upgrade")
def upgrade(vault: VaultOption,
            to: Annotated[str, typer.Option("--to", help="the new implementation's contract"
                                                          " (an artifact name)")],
            current: Annotated[str, typer.Option("--from", help="the implementation it runs"
                                                                " now")] = "PayoutVault",
            check_only: Annotated[bool, typer.Option(
                "--check-only", help="only compare the storage layouts; send nothing")]
            = False,
            as_json: JsonFlag = False) -> None:
    """Upgrade the vault (UPGRADER): refused, before anything is sent, unless the new
    implementation keeps every existing storage member at its slot, offset and type."""
    from app.vault_ops import VaultOpRefused, check_upgrade

    if check_only:
        try:
            check_upgrade(current, to)
        except VaultOpRefused as err:
            raise _refuse(str(err)) from None
        typer.echo(f"{to} keeps the storage layout of {current}")
        return
    _administer(vault, lambda v: v.upgrade(current=current, target=to), as_json)


@app.command("work")
def work(burst: Annotated[bool, typer.Option(help="exit when the queue is empty")] = False
         ) -> None:
    """The vault's admin-side process: carries out the pauses, role changes and upgrades asked
    for through the API and approved by another person, with this process's key (it must hold
    the role each needs: PAUSER, DEFAULT_ADMIN, UPGRADER). Needs DATABASE_URL, REDIS_URL and
    RPC_URL. At start it first runs every approved request not yet settled."""
    from rq import Queue
    from rq.worker import SimpleWorker

    from app import vault_requests
    from runtime.bootstrap import build_services, when_reachable
    from runtime.settings import Settings

    settings = Settings.from_env()
    services = when_reachable(lambda: build_services(settings))
    executor = vault_requests.VaultOpExecutor(services.ledger, services.gateway,
                                              services.signer)
    vault_requests.install(executor)
    for outcome in vault_requests.resume(services.ledger, executor):
        typer.echo(f"resumed: {outcome.action} {outcome.detail} {outcome.tx_hash or ''}",
                   err=True)
    queue = Queue(vault_requests.QUEUE_NAME, connection=services.redis)
    try:
        SimpleWorker([queue], connection=services.redis).work(
            burst=burst, with_scheduler=True, logging_level="WARNING")
    finally:
        services.close()
