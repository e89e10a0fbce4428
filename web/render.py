"""Templates and the formats every screen shares: amounts with their units, times in UTC.

Amounts are integers in smallest units everywhere below the panel; here they become decimal
text with the payment token's decimals and thousands separators, exactly (string arithmetic:
no float ever touches an amount). Times are shown in UTC; `panel.js` puts the reader's local
time in the title, so it shows on hover.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment
from litestar import Request
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Template
from litestar.template.config import TemplateConfig
from markupsafe import Markup, escape

from web.auth import CSRF_HEADER, session_of

TEMPLATES = Path(__file__).parent / "templates"


def units(amount: int | str | None, decimals: int = 0, symbol: str = "") -> str:
    """`1234500, 2, "USD"` → `12,345.00 USD`: exact, at least two decimals when it has any."""
    if amount is None or amount == "":
        return "—"
    value = int(amount)
    sign, value = ("-" if value < 0 else ""), abs(value)
    whole, frac = divmod(value, 10 ** decimals) if decimals else (value, 0)
    text = f"{sign}{whole:,}"
    if decimals:
        digits = f"{frac:0{decimals}d}".rstrip("0")
        text += "." + digits.ljust(min(2, decimals), "0")
    return f"{text} {symbol}".rstrip()


def count(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def utc(moment: datetime | None) -> Markup:
    if moment is None:
        return Markup("—")
    moment = moment.astimezone(UTC)
    return Markup('<time datetime="{}">{}</time>').format(
        moment.isoformat(), moment.strftime("%Y-%m-%d %H:%M:%S UTC"))


def short(value: str | None, keep: int = 6) -> str:
    """`0x1234…cdef`: hashes and addresses in tables (the full value is in the title)."""
    if not value:
        return "—"
    return value if len(value) <= 2 * keep + 2 else f"{value[:keep + 2]}…{value[-keep:]}"


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f} %"


def _filters(env: Environment) -> None:
    env.filters.update(units=units, count=count, utc=utc, short=short, percent=percent)
    env.globals["csrf_header"] = CSRF_HEADER


def _engine(engine: JinjaTemplateEngine) -> None:
    engine.engine.autoescape = True
    _filters(engine.engine)


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    return TemplateConfig(directory=TEMPLATES, engine=JinjaTemplateEngine,
                          engine_callback=_engine)


def page(request: Request[Any, Any, Any], name: str, *, status_code: int = 200,
         headers: dict[str, str] | None = None, **context: Any) -> Template:
    """Render `name` for the signed-in caller: every page knows who it is and its CSRF token."""
    session = session_of(request)
    return Template(template_name=name, status_code=status_code, headers=headers, context={
        "me": session.principal, "role": session.principal.role.value,
        "csrf": session.csrf, "now": datetime.now(UTC), "path": request.url.path,
        "fragment": request.headers.get("hx-request") == "true", **context})


__all__ = ["escape", "page", "template_config", "units"]
