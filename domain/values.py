"""Small value rules shared by the aggregates: amounts, basis points, UTC time."""

from __future__ import annotations

from datetime import UTC, datetime

from domain.errors import InvalidAmount, InvalidInput, InvalidRate

BPS_DENOMINATOR = 10_000
MAX_DECIMALS = 36


def positive_amount(value: int, what: str) -> int:
    """An amount in the token's smallest unit; `bool` and `float` are refused, not coerced."""
    if type(value) is not int:
        raise InvalidAmount(f"{what} must be an integer number of smallest units")
    if value <= 0:
        raise InvalidAmount(f"{what} must be positive, got {value}")
    return value


def non_negative_amount(value: int, what: str) -> int:
    if type(value) is not int:
        raise InvalidAmount(f"{what} must be an integer number of smallest units")
    if value < 0:
        raise InvalidAmount(f"{what} must not be negative, got {value}")
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
