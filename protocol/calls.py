"""What a method handler is given: one `Call` per request.

A handler is a module-level `async def name(call: Call[D]) -> dict`, where `D` is what
its module declared it needs (the domain facade, or a small record of facades). The
call carries the validated params, the connection it came on (`Caller`) and that `D`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Generic, Protocol, TypeVar

from actors.errors import AuthRequired
from actors.tokens.crypto import AccessClaims
from protocol.paging import CursorCodec, Listing

D = TypeVar("D")

__all__ = ["Call", "Caller"]


class Caller(Protocol):
    """The connection a call came on, as handlers see it (the transport's `Connection`)."""

    id: int
    """The connection's number on this node."""

    principal: AccessClaims | None
    """Set once the connection authenticated (handshake bearer token or auth.authenticate)."""

    peer: str
    """The client's address, `host:port` (for audit lines)."""

    closed: bool

    def notify(self, method: str, params: object) -> None:
        """Send a server notification without blocking."""

    def close_soon(self, code: int, reason: str, *, after: Sequence[tuple[str, object]] = ()) -> None:
        """Send the `after` notifications, then close with `code`, once current answers are out."""


class Call(Generic[D]):
    """One request to a handler: `params` (validated against the method's schema: an
    object, or a list for a method whose params schema is an array), the `caller`, and
    `domain`, what the method's module declared it needs."""

    __slots__ = ("params", "caller", "domain", "_cursors")

    def __init__(self, params: dict[str, Any], caller: Caller, domain: D, cursors: CursorCodec) -> None:
        self.params = params
        self.caller = caller
        self.domain = domain
        self._cursors = cursors

    @property
    def user(self) -> AccessClaims:
        """The authenticated caller. Methods declared `USER` or `ADMIN` are only called
        with one; elsewhere this raises `AuthRequired` for an anonymous connection."""
        principal = self.caller.principal
        if principal is None:
            raise AuthRequired()
        return principal

    @property
    def cursors(self) -> CursorCodec:
        """What signs this call's listing cursors (an answer holding a cursor is only
        good where the same codec checks it)."""
        return self._cursors

    def listing(self, scope: str) -> Listing:
        """The paging of this call, its cursors bound to `scope` (see protocol.paging)."""
        return Listing(self.params, self._cursors, scope)
