"""Form input at the panel: amounts typed in human units, and refusals marked on their field.

An operator types `1,250.5` USDC; the ledger takes smallest units. `to_units` converts
exactly (string arithmetic, never a float) with the payment token's decimals and refuses what
would lose a digit. A command refused by its msgspec constraints (the API's own Structs,
converted with `msgspec.convert`) or by the domain (`InvalidInput`) becomes `{field: message}`
for the template, which marks the field (`aria-invalid`) and answers 422: nothing recorded.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

import msgspec

from domain.errors import InvalidInput

MAX_UNITS = 2**256 - 1
_AMOUNT = re.compile(r"(?P<whole>\d{1,3}(?:,\d{3})+|\d+)?(?:\.(?P<frac>\d*))?")
_PATH = re.compile(r"at `(\$[^`]*)`")
FORM = "form"  # the key of an error that belongs to no one field


def to_units(text: str, decimals: int) -> int:
    """`"1,250.5", 6` → `1250500000`: exact; at most `decimals` decimal places (trailing
    zeros aside), thousands separators as commas only where they belong, never negative."""
    value = (text or "").strip().replace("\u00a0", "").replace(" ", "")
    if not value:
        raise ValueError("enter an amount")
    if value.startswith("-"):
        raise ValueError("an amount cannot be negative")
    found = _AMOUNT.fullmatch(value)
    if found is None or not (found["whole"] or found["frac"]):
        raise ValueError(f"{text.strip()!r} is not an amount: digits, an optional decimal"
                         " point, commas between thousands (e.g. 1,250.50)")
    whole = int((found["whole"] or "0").replace(",", ""))
    frac = (found["frac"] or "").rstrip("0")
    if len(frac) > decimals:
        raise ValueError(f"at most {decimals} decimal place{'s' if decimals != 1 else ''}"
                         f" (the payment token's smallest unit is 10^-{decimals})"
                         if decimals else "this token has no decimal places: a whole number")
    units = int(whole * 10**decimals) + (int(frac.ljust(decimals, "0")) if frac else 0)
    if units > MAX_UNITS:
        raise ValueError("the amount is too large (at most 2^256 - 1 smallest units)")
    return units


def lines(text: str | None) -> list[str]:
    """A pasted list, one item a line (commas and blanks also separate): blanks dropped."""
    return [item for item in re.split(r"[\s,;]+", text or "") if item]


def field_errors(exc: Exception, paths: Mapping[str, str] | None = None,
                 hints: Iterable[tuple[str, str]] = (), default: str = FORM) -> dict[str, str]:
    """`{field: message}` for a refused form.

    `paths` maps a msgspec location (`$.rule.value`, `$.excluded[3]` is looked up as
    `$.excluded`) to the form field; `hints` are (word in the message, field) pairs for the
    domain's refusals, which name no location; anything else lands on `default`."""
    message = str(exc)
    if isinstance(exc, msgspec.ValidationError):
        found = _PATH.search(message)
        text = _PATH.sub("", message).strip(" -")
        if found:
            location = re.sub(r"\[\d+\]", "", found.group(1))
            while location:
                if paths and location in paths:
                    return {paths[location]: _humane(text)}
                location = location.rpartition(".")[0]
        return {default: _humane(text)}
    if isinstance(exc, InvalidInput):
        lowered = message.lower()
        for word, field in hints:
            if word.lower() in lowered:
                return {field: message}
    return {default: message}


def _humane(message: str) -> str:
    """msgspec's messages, in an operator's words where the regex would say nothing."""
    if "matching regex" in message:
        return "not in the expected form"
    return message


__all__ = ["FORM", "field_errors", "lines", "to_units"]
