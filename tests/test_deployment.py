"""The production shape cannot be started here (no Docker on these machines), so what can be
checked without it is checked: every compose service runs a real `mass-payout` command whose
options parse, the image copies every package the wheel ships, and each long-running process
the README lists has a service."""

from __future__ import annotations

import tomllib
from pathlib import Path

import typer
import yaml

from mass_payout.cli import app

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
