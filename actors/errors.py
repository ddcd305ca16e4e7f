"""Domain errors: what an actor answers when a request cannot be served.

Each is a `runtime.Rejection`, so raising one from `Actor.receive` answers the asker
with the error and leaves the actor running. The protocol layer maps each class to its
JSON-RPC code; actors never see codes.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from actors.storage.errors import StorageTimeout, StorageUnavailable
from runtime import Rejection


class DomainError(Rejection):
    """Base of the errors below; `message` is safe to show to a client."""

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message or self.default_message

    default_message = "error"


class InvalidParams(DomainError):
    """Bad client input. `errors` is a list of {field, message}."""

    default_message = "Invalid params"

    def __init__(self, field: str, message: str, *more: tuple[str, str]) -> None:
        super().__init__("Invalid params")
        self.errors = [{"field": field, "message": message}] + [
            {"field": f, "message": m} for f, m in more
        ]


class AuthRequired(DomainError):
    default_message = "Authentication required"


class PermissionDenied(DomainError):
    default_message = "Permission denied"


class TokenRevoked(DomainError):
    default_message = "Token revoked"


class NotFound(DomainError):
    default_message = "Not found"


class Conflict(DomainError):
    default_message = "Already exists"


class Overloaded(DomainError):
    """Refused for now; `retry_after` (seconds), when known, is told the client."""

    default_message = "Overloaded, retry later"

    def __init__(self, message: str = "", *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TimedOut(DomainError):
    default_message = "Timed out"


class RefreshReuse(DomainError):
    default_message = "Refresh token reuse detected; the token family is revoked"


class InvalidCredentials(DomainError):
    default_message = "Invalid credentials"


class Unavailable(DomainError):
    """A dependency (database, cache) cannot be reached; maps to -32006."""

    default_message = "Service unavailable, retry later"


@contextmanager
def storage_errors() -> Iterator[None]:
    """Turn the storage port's failures into the answers a client gets."""
    try:
        yield
    except StorageUnavailable as exc:
        raise Unavailable("Database unavailable, retry later") from exc
    except StorageTimeout as exc:
        raise TimedOut("Database timed out") from exc
