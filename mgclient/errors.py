"""What the client raises: `RpcError` for an error answer (one subclass per code the
gateway uses), `TransportError` when the server cannot be reached or the connection
fails."""

from __future__ import annotations

from typing import Any

__all__ = [
    "ClientError", "RpcError", "InvalidParams", "AuthRequired", "PermissionDenied", "TokenRevoked",
    "NotFound", "Conflict", "Overloaded", "TimedOut", "ShuttingDown", "RefreshReuse", "InvalidCredentials",
    "TransportError", "Unreachable", "HandshakeRejected", "ConnectionClosed",
]


class ClientError(Exception):
    """Anything the client raises."""


class RpcError(ClientError):
    """The server answered with an error: `code`, `message`, `data` as sent."""

    code: int

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        self.code = code
        self.message = message
        self.data = data
        super().__init__(self._text())

    def _text(self) -> str:
        text = f"{self.code} {self.message}"
        problems = self.data.get("errors") if isinstance(self.data, dict) else None
        if isinstance(problems, list):
            text += ": " + "; ".join(f"{p.get('field')}: {p.get('message')}" for p in problems if isinstance(p, dict))
        return text

    @staticmethod
    def from_error(error: Any) -> RpcError:
        """The exception for a JSON-RPC error object (the subclass of its code)."""
        if not isinstance(error, dict):
            return RpcError(-32603, f"malformed error answer: {error!r}")
        code = error.get("code")
        cls = _BY_CODE.get(code, RpcError) if isinstance(code, int) else RpcError
        return cls(code if isinstance(code, int) else -32603, str(error.get("message", "")), error.get("data"))


class InvalidParams(RpcError):
    """-32602; `errors` lists {field, message}."""

    @property
    def errors(self) -> list[dict[str, str]]:
        found = self.data.get("errors") if isinstance(self.data, dict) else None
        return found if isinstance(found, list) else []


class AuthRequired(RpcError):
    """-32001: authenticate first, or the token is invalid or expired."""


class PermissionDenied(RpcError):
    """-32002."""


class TokenRevoked(RpcError):
    """-32003: the token's family was revoked; log in again."""


class NotFound(RpcError):
    """-32004."""


class Conflict(RpcError):
    """-32005: it already exists."""


class Overloaded(RpcError):
    """-32006: retry later (`retry_after` seconds, when the server said)."""

    @property
    def retry_after(self) -> float | None:
        value = self.data.get("retry_after") if isinstance(self.data, dict) else None
        return float(value) if isinstance(value, (int, float)) else None


class TimedOut(RpcError):
    """-32007."""


class ShuttingDown(RpcError):
    """-32008: this node is stopping; reconnect."""


class RefreshReuse(RpcError):
    """-32009: a spent refresh token was presented; the whole family is revoked."""


class InvalidCredentials(RpcError):
    """-32010."""


_BY_CODE: dict[int, type[RpcError]] = {
    -32602: InvalidParams, -32001: AuthRequired, -32002: PermissionDenied, -32003: TokenRevoked,
    -32004: NotFound, -32005: Conflict, -32006: Overloaded, -32007: TimedOut, -32008: ShuttingDown,
    -32009: RefreshReuse, -32010: InvalidCredentials,
}


class TransportError(ClientError):
    """No answer could be had: the server is unreachable, refused the handshake, or the
    connection broke."""


class Unreachable(TransportError):
    """Nothing answered at the URL (refused, no route, name unknown, timed out)."""


class HandshakeRejected(TransportError):
    """The server answered the WebSocket handshake with an HTTP error."""

    def __init__(self, url: str, status_code: int, body: str) -> None:
        self.url = url
        self.status_code = status_code
        self.body = body
        detail = f": {body}" if body else ""
        super().__init__(f"the server at {url} refused the WebSocket handshake with HTTP {status_code}{detail}")


class ConnectionClosed(TransportError):
    """The connection closed (`code`, `reason` of the close frame; 1006 without one)."""

    def __init__(self, code: int, reason: str = "", *, request_sent: bool = True) -> None:
        self.code = code
        self.reason = reason
        self.request_sent = request_sent
        """False when the call's request never left: it is safe to send again."""
        super().__init__(f"connection closed with {code}" + (f" ({reason})" if reason else ""))
