"""Operator e-mail: what needs a person (the dashboard's items, `web.attention`) also goes to
an operator mailbox over SMTP, at most once an hour per item.

The items are given by the caller (`mass-payout alerts email` reads them with
`web.attention.items`, a layer above this one), as anything with `kind`, `title`, `detail`
and `action`. An item is known by its kind and title (what it is about), so one blocked batch
is one item however often it is read. Each send is claimed first in `email_alerts_sent`
(`INSERT … ON CONFLICT … WHERE sent_at < now - 1 h`): several processes never mail one item
twice in the hour, and a failed send gives its claim back so the next pass retries.

aiosmtplib is the maintained asyncio SMTP client; nothing here speaks SMTP by hand.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any, Protocol

import aiosmtplib
import psycopg
from psycopg import sql

from app.redaction import redact
from app.webhooks import views

log = logging.getLogger(__name__)
SENT = "email_alerts_sent"
EVERY = timedelta(hours=1)  # at most one message per item in this time


class AlertItem(Protocol):
    @property
    def kind(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def detail(self) -> str: ...
    @property
    def action(self) -> str: ...


@dataclass(frozen=True)
class Mailbox:
    host: str
    to: str
    sender: str
    port: int = 25
    username: str | None = None
    password: str | None = None
    start_tls: bool | None = None  # None: when the server offers it (aiosmtplib's default)
    timeout: float = 10.0


def item_key(item: AlertItem) -> str:
    return f"{item.kind}: {item.title}"[:500]


@dataclass
class EmailAlerts:
    mailbox: Mailbox
    database_url: str
    schema: str
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    def __post_init__(self) -> None:
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(
                sql.Identifier(views(self.schema))))
            conn.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {} (item text PRIMARY KEY,"
                                 " sent_at timestamptz NOT NULL)").format(self._table))

    @property
    def _table(self) -> sql.Identifier:
        return sql.Identifier(views(self.schema), SENT)

    async def send_due(self, items: Iterable[AlertItem]) -> int:
        """Mail each item not mailed in the last hour; returns how many were sent."""
        sent = 0
        for item in items:
            key = item_key(item)
            if not self._claim(key):
                continue
            try:
                await aiosmtplib.send(self._message(item), hostname=self.mailbox.host,
                                      port=self.mailbox.port, username=self.mailbox.username,
                                      password=self.mailbox.password,
                                      start_tls=self.mailbox.start_tls,
                                      timeout=self.mailbox.timeout)
            except (aiosmtplib.SMTPException, OSError) as err:
                self._release(key)
                log.warning("operator e-mail not sent (retried next pass): %s",
                            redact(str(err)))
                continue
            sent += 1
        return sent

    def _message(self, item: AlertItem) -> EmailMessage:
        message = EmailMessage()
        message["Subject"] = f"[mass-payout] needs a person: {item.title}"
        message["From"], message["To"] = self.mailbox.sender, self.mailbox.to
        message.set_content(f"{item.title}\n\nWhy: {item.detail}\nWhat to do: {item.action}\n"
                            f"\n({item.kind}; at most one message an hour for this item)\n")
        return message

    def _claim(self, key: str) -> bool:
        now = self.clock()
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            row: Any = conn.execute(sql.SQL(
                "INSERT INTO {t} AS s VALUES (%s, %s) ON CONFLICT (item) DO UPDATE"
                " SET sent_at = excluded.sent_at WHERE s.sent_at <= %s RETURNING item").format(
                t=self._table), (key, now, now - EVERY)).fetchone()
        return row is not None

    def _release(self, key: str) -> None:
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            conn.execute(sql.SQL("UPDATE {} SET sent_at = '-infinity' WHERE item = %s").format(
                self._table), (key,))
