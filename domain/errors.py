"""The domain's error hierarchy. The API maps these to HTTP statuses in one place."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every rule the ledger refuses. Nothing is recorded when one is raised."""


class InvalidInput(DomainError):
    """A command's arguments are malformed or out of range (→ 422)."""


class InvalidAmount(InvalidInput):
    pass


class InvalidAccount(InvalidInput):
    pass


class InvalidRate(InvalidInput):
    pass


class InvalidTerms(InvalidInput):
    pass


class InvalidField(InvalidInput):
    """Bad input in one named field of a command (the API's problem names it: `field`)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class InvalidSnapshot(InvalidInput):
    pass


class InvalidMerkleInput(InvalidInput):
    pass


class IllegalTransition(DomainError):
    """The aggregate's state does not allow the command (→ 409)."""


class MakerCheckerViolation(DomainError):
    """The approver is the creator: four eyes are required (→ 403)."""


class NotFound(DomainError):
    """No aggregate with that id (→ 404)."""


class AlreadyExists(DomainError):
    """An aggregate with that deterministic id exists with other content (→ 409)."""


class IdempotencyConflict(AlreadyExists):
    """The idempotency key was used before with a different request (→ 409)."""
