"""Operator e-mail on a real local SMTP server (aiosmtpd): what needs a person is mailed, at
most once an hour per item, and a server that is down loses nothing."""

from __future__ import annotations

import asyncio
import email
from collections.abc import Iterator
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from typer.testing import CliRunner

from app.email_alerts import EmailAlerts, Mailbox
from devtools.devchain import free_port
from mass_payout.cli import app
from tests.projections.conftest import projector, views  # noqa: F401  # fixtures
from web.attention import Item


class Inbox:
    """aiosmtpd's handler: keeps every message it is given."""

    def __init__(self) -> None:
        self.messages: list[email.message.Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(), free_port()
    server = Controller(inbox, hostname="127.0.0.1", port=port)
    server.start()
    yield inbox, port
    server.stop()


BLOCKED = Item("blocked-batch", "batch 3 of 1a2b3c4d is blocked", "the vault is paused",
               "unpause the vault, then retry")


def test_each_item_is_mailed_at_most_once_an_hour(smtp, database_url, schema, clock):
    inbox, port = smtp
    alerts = EmailAlerts(Mailbox("127.0.0.1", "ops@example.com", "payout@example.com", port),
                         database_url, schema, clock=clock)
    # First pass: the item is mailed, with what to do.
    assert asyncio.run(alerts.send_due([BLOCKED])) == 1
    [message] = inbox.messages
    assert message["To"] == "ops@example.com" and BLOCKED.title in message["Subject"]
    assert "unpause the vault" in message.get_payload()
    # Still there ten minutes later: not mailed again; a new item is.
    clock.advance(minutes=10)
    other = Item("ingestion-halted", "ingestion halted on 0xab", "a reorg", "look")
    assert asyncio.run(alerts.send_due([BLOCKED, other])) == 1
    assert len(inbox.messages) == 2
    # An hour after its message, the still-open item is mailed again.
    clock.advance(minutes=51)
    assert asyncio.run(alerts.send_due([BLOCKED, other])) == 1
    assert [m["Subject"] for m in inbox.messages].count(inbox.messages[0]["Subject"]) == 2


def test_a_server_that_is_down_costs_the_item_nothing(database_url, schema, clock, smtp):
    inbox, port = smtp
    down = EmailAlerts(Mailbox("127.0.0.1", "ops@example.com", "payout@example.com",
                               free_port(), timeout=2), database_url, schema, clock=clock)
    assert asyncio.run(down.send_due([BLOCKED])) == 0
    # The claim was given back: once the mailbox answers, the item goes at once.
    up = EmailAlerts(Mailbox("127.0.0.1", "ops@example.com", "payout@example.com", port),
                     database_url, schema, clock=clock)
    assert asyncio.run(up.send_due([BLOCKED])) == 1 and len(inbox.messages) == 1


def test_the_cli_mails_the_dashboards_items(smtp, monkeypatch, database_url, schema,
                                           projector, ledger):  # noqa: F811
    inbox, port = smtp
    for name, value in {"DATABASE_URL": database_url, "MASS_PAYOUT_SCHEMA": schema,
                        "MASS_PAYOUT_SMTP_HOST": "127.0.0.1", "MASS_PAYOUT_SMTP_PORT": str(port),
                        "MASS_PAYOUT_ALERT_EMAIL_TO": "ops@example.com"}.items():
        monkeypatch.setenv(name, value)
    # No scheduler has ticked in this schema: the dashboard's "no scheduler is leading".
    done = CliRunner().invoke(app, ["alerts", "email", "--once"])
    assert done.exit_code == 0, done.output
    subjects = [m["Subject"] for m in inbox.messages]
    assert any("no scheduler is leading" in s for s in subjects), subjects
    again = CliRunner().invoke(app, ["alerts", "email", "--once"])
    assert again.exit_code == 0 and "0 alerts mailed" in again.stdout
    assert len(inbox.messages) == len(subjects)
