"""WebhookEndpoint: where an integrator is told what the ledger recorded, and which of it.

Its events say who created or changed the endpoint and when: the URL, the event types, the
description, active or disabled. The signing secret is *not* in them: the log is immutable
and replicated into every read model and audit, so a secret recorded there could never be
rotated out of it. The secret lives beside the read models (`app.webhooks`), shown once.

`check_url` is the creation-time half of the destination rule: http(s) only, and no
private, loopback, link-local or otherwise non-public IP literal (nor `localhost`) unless the
allow-list names the host or a network holding it. The delivery-time half resolves the
host again and applies `address_allowed` to every address (DNS can change after creation).

A secret rotation is an event too (`SecretRotated`: who, and until when the previous secret
still signs), never the secret: the secret of version n of the endpoint is stored under n
(`app.webhooks`), and becomes the signing one only once this event is recorded at n.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from datetime import datetime
from urllib.parse import urlsplit
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.errors import IllegalTransition, InvalidInput

EVENT_TYPES: tuple[str, ...] = (
    "ingestion.halted",
    "distribution.created", "distribution.approved", "distribution.committed",
    "distribution.executing", "distribution.completed", "distribution.completed_with_failures",
    "distribution.waiting_for_funds", "distribution.cancelled", "distribution.expired",
    "batch.blocked", "holder_payments.failed",
    "schedule.occurrence_spawned", "schedule.occurrences_missed",
    "reconciliation.mismatch",
)
MAX_URL = 2_000
MAX_DESCRIPTION = 500
_LOCAL_NAMES = ("localhost", "localhost.localdomain")

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _networks(allow: Iterable[str]) -> tuple[set[str], list[ipaddress.IPv4Network
                                                            | ipaddress.IPv6Network]]:
    names: set[str] = set()
    networks = []
    for entry in (a.strip().lower() for a in allow):
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            names.add(entry.rstrip("."))
    return names, networks


def is_public(address: Address) -> bool:
    """Routable on the internet: not private, loopback, link-local, multicast, reserved."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def address_allowed(host: str, address: Address, allow: Iterable[str]) -> bool:
    """May a delivery to `host` connect to `address`?"""
    if is_public(address):
        return True
    names, networks = _networks(allow)
    return host.lower().rstrip(".") in names or any(address in n for n in networks)


def check_url(url: str, allow: Iterable[str] = ()) -> str:
    """The URL as it will be called, or InvalidInput saying why it is refused."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL:
        raise InvalidInput(f"a webhook URL of 1..{MAX_URL} characters is required")
    if not url.isprintable() or any(c.isspace() for c in url):
        raise InvalidInput("a webhook URL has no spaces or control characters")
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018  # raises ValueError on a malformed port
    except ValueError:
        raise InvalidInput("the webhook URL does not parse") from None
    if parts.scheme not in ("http", "https"):
        raise InvalidInput("a webhook URL is http or https")
    if not host:
        raise InvalidInput("the webhook URL names no host")
    if parts.username or parts.password:
        raise InvalidInput("a webhook URL carries no credentials; sign with the secret")
    try:
        literal: Address | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    names, _ = _networks(allow)
    if literal is None and (host in _LOCAL_NAMES or host.endswith(".localhost")) \
            and host not in names:
        literal = ipaddress.ip_address("127.0.0.1")
    if literal is not None and not address_allowed(host, literal, allow):
        raise InvalidInput(f"{host} is not a public address: private, loopback and link-local"
                           " destinations are refused unless MASS_PAYOUT_WEBHOOK_ALLOW lists"
                           " them")
    return url


def check_types(event_types: Iterable[str]) -> list[str]:
    chosen = sorted(set(event_types))
    if not chosen:
        raise InvalidInput("a webhook endpoint subscribes to at least one event type")
    unknown = [t for t in chosen if t not in EVENT_TYPES]
    if unknown:
        raise InvalidInput(f"unknown event types {unknown[:5]}; choose from"
                           f" {', '.join(EVENT_TYPES)}")
    return chosen


def _description(text: str) -> str:
    if len(text) > MAX_DESCRIPTION:
        raise InvalidInput(f"a description of at most {MAX_DESCRIPTION} characters")
    if not text.replace("\n", " ").replace("\t", " ").isprintable():
        raise InvalidInput("a description has no control characters")
    return text


class WebhookEndpoint(Aggregate):
    class Created(Aggregate.Created):
        url: str
        event_types: list[str]
        description: str
        actor: str

    class Updated(Aggregate.Event):
        url: str
        event_types: list[str]
        description: str
        actor: str

    class Disabled(Aggregate.Event):
        actor: str
        reason: str

    class Enabled(Aggregate.Event):
        actor: str

    class SecretRotated(Aggregate.Event):
        actor: str
        previous_until: datetime  # deliveries are signed with both secrets until then

    @classmethod
    def register(cls, endpoint_id: UUID, *, url: str, event_types: Iterable[str],
                 description: str, actor: str, allow: Iterable[str] = ()) -> WebhookEndpoint:
        """`endpoint_id` is chosen by the caller, which stores the secret under it first."""
        if not actor:
            raise InvalidInput("every command names its actor")
        return cls._create(cls.Created, id=endpoint_id, url=check_url(url, allow),
                           event_types=check_types(event_types),
                           description=_description(description), actor=actor)

    @event(Created)
    def __init__(self, url: str, event_types: list[str], description: str, actor: str) -> None:
        self.url = url
        self.event_types = list(event_types)
        self.description = description
        self.created_by = actor
        self.active = True
        self.disabled_reason = ""
        self.secret_version = 1  # the aggregate version whose secret signs (1: creation's)
        self.previous_version: int | None = None
        self.previous_until: datetime | None = None

    def update(self, *, actor: str, url: str | None = None,
               event_types: Iterable[str] | None = None, description: str | None = None,
               allow: Iterable[str] = ()) -> bool:
        """Change what is given; False (nothing recorded) when nothing changes."""
        new_url = self.url if url is None else check_url(url, allow)
        types = self.event_types if event_types is None else check_types(event_types)
        text = self.description if description is None else _description(description)
        if (new_url, types, text) == (self.url, self.event_types, self.description):
            return False
        self._updated(url=new_url, event_types=types, description=text, actor=actor)
        return True

    @event(Updated)
    def _updated(self, url: str, event_types: list[str], description: str, actor: str) -> None:
        self.url, self.event_types, self.description = url, list(event_types), description

    def disable(self, actor: str, reason: str) -> None:
        if not self.active:
            raise IllegalTransition(f"webhook endpoint {self.id} is already disabled")
        self._disabled(actor=actor, reason="".join(c for c in reason if c.isprintable())[:500])

    @event(Disabled)
    def _disabled(self, actor: str, reason: str) -> None:
        self.active = False
        self.disabled_reason = reason

    def enable(self, actor: str) -> None:
        if self.active:
            raise IllegalTransition(f"webhook endpoint {self.id} is already active")
        self._enabled(actor=actor)

    @event(Enabled)
    def _enabled(self, actor: str) -> None:
        self.active = True
        self.disabled_reason = ""

    def rotate_secret(self, actor: str, previous_until: datetime) -> int:
        """The secret stored under the next version signs from now on; the current one also
        signs until `previous_until` (a grace period for receivers to switch). Returns the
        version whose secret becomes current (the caller stored it there first)."""
        if not actor:
            raise InvalidInput("every command names its actor")
        self._secret_rotated(actor=actor, previous_until=previous_until)
        return self.secret_version

    @event(SecretRotated)
    def _secret_rotated(self, actor: str, previous_until: datetime) -> None:
        self.previous_version, self.previous_until = self.secret_version, previous_until
        self.secret_version = self.version + 1  # this event's own (`version` moves after)
