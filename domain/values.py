r"""Small value rules shared by the aggregates: amounts, basis points, UTC time, and the
text grammar of amounts.

Patterns here are written once for two readers: Python's `re` (the domain, msgspec) and
ECMA-262 (the OpenAPI document's clients). So they use ASCII classes only (`[0-9]`, never
`\d`, which is Unicode in Python) and end in `$(?!\n)`: Python's `$` also matches before a
final newline, the lookahead refuses that, and in ECMA-262 it is a no-op.
"""

from __future__ import annotations

from datetime import UTC, datetime

from domain.errors import InvalidAmount, InvalidInput, InvalidRate

BPS_DENOMINATOR = 10_000
MAX_DECIMALS = 36
# Every amount ends up in a uint256 on chain (ERC-20 transfers, the vault's Merkle leaves): a
# larger one cannot be paid, so it is refused where it enters, before anything is recorded.
MAX_AMOUNT = 2**256 - 1


def whole(pattern: str) -> str:
    """`pattern` over the whole string, in Python and in ECMA-262 alike."""
    return f"^(?:{pattern})$(?!\\n)"


def at_most(bound: int) -> str:
    """Decimal digits (leading zeros allowed) whose value is at most `bound`: a pattern says
    the bound exactly, so a schema-valid number is never refused for its size.

    Fewer digits than the bound always fit; with as many, the number fits when it follows
    the bound's digits up to some place and is smaller there, or is the bound itself."""
    digits = str(bound)
    shorter = [f"[0-9]{{1,{len(digits) - 1}}}"] if len(digits) > 1 else []
    same = [f"{digits[:i]}[0-{int(d) - 1}][0-9]{{{len(digits) - i - 1}}}"
            for i, d in enumerate(digits) if d != "0"]
    return "|".join([*shorter, *same, digits])


AMOUNT_PATTERN = whole(at_most(MAX_AMOUNT))


def positive_amount(value: int, what: str) -> int:
    """An amount in the token's smallest unit; `bool` and `float` are refused, not coerced."""
    if type(value) is not int:
        raise InvalidAmount(f"{what} must be an integer number of smallest units")
    if value <= 0:
        raise InvalidAmount(f"{what} must be positive, got {value}")
    return _fits(value, what)


def non_negative_amount(value: int, what: str) -> int:
    if type(value) is not int:
        raise InvalidAmount(f"{what} must be an integer number of smallest units")
    if value < 0:
        raise InvalidAmount(f"{what} must not be negative, got {value}")
    return _fits(value, what)


def _fits(value: int, what: str) -> int:
    if value > MAX_AMOUNT:
        raise InvalidAmount(f"{what} exceeds 2**256 - 1, the largest amount a token can move")
    return value


def basis_points(value: int, what: str) -> int:
    if type(value) is not int or not 0 <= value <= BPS_DENOMINATOR:
        raise InvalidRate(f"{what} must be 0..10000 basis points, got {value!r}")
    return value


def decimals(value: int, what: str) -> int:
    if type(value) is not int or not 0 <= value <= MAX_DECIMALS:
        raise InvalidInput(f"{what} must be 0..{MAX_DECIMALS}, got {value!r}")
    return value


def utc(moment: datetime, what: str) -> datetime:
    """Timestamps are timezone-aware and normalised to UTC, so comparisons never lie."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidInput(f"{what} must carry a timezone (UTC expected)")
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00+01:00 has no UTC equivalent
        raise InvalidInput(f"{what} {moment.isoformat()} is outside the representable range"
                           ) from None
