"""JSON-RPC error codes and the mapping from domain and runtime errors to them."""

from __future__ import annotations

import math
from typing import Any

from actors import errors as domain
import runtime

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603

AUTH_REQUIRED = -32001
PERMISSION_DENIED = -32002
TOKEN_REVOKED = -32003
NOT_FOUND = -32004
CONFLICT = -32005
OVERLOADED = -32006
TIMED_OUT = -32007
SHUTTING_DOWN = -32008
REFRESH_REUSE = -32009
INVALID_CREDENTIALS = -32010


class RpcError(Exception):
    """An error answer: `code`, a client-safe `message`, optional `data`."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    def to_dict(self) -> dict[str, Any]:
        err: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            err["data"] = self.data
        return err


def invalid_params(field: str, message: str) -> RpcError:
    return RpcError(INVALID_PARAMS, "Invalid params", {"errors": [{"field": field, "message": message}]})


_DOMAIN_CODES: dict[type[domain.DomainError], int] = {
    domain.AuthRequired: AUTH_REQUIRED,
    domain.PermissionDenied: PERMISSION_DENIED,
    domain.TokenRevoked: TOKEN_REVOKED,
    domain.NotFound: NOT_FOUND,
    domain.Conflict: CONFLICT,
    domain.Overloaded: OVERLOADED,
    domain.Unavailable: OVERLOADED,
    domain.TimedOut: TIMED_OUT,
    domain.RefreshReuse: REFRESH_REUSE,
    domain.InvalidCredentials: INVALID_CREDENTIALS,
}


def retry_after(seconds: float) -> dict[str, float]:
    """`data` of an answer that says when to try again: `seconds` rounded up to the
    millisecond (rounded down, a client that waits exactly that long could come back
    a fraction of a millisecond early and be refused again)."""
    return {"retry_after": max(0.001, math.ceil(seconds * 1000 - 1e-9) / 1000)}


def to_rpc_error(exc: BaseException) -> RpcError | None:
    """The answer for an exception a handler raised, or None if it is a bug.

    None means: log it with its traceback and answer -32603 without detail.
    """
    if isinstance(exc, RpcError):
        return exc
    if isinstance(exc, domain.InvalidParams):
        return RpcError(INVALID_PARAMS, "Invalid params", {"errors": exc.errors})
    if isinstance(exc, domain.DomainError):
        for cls in type(exc).__mro__:
            code = _DOMAIN_CODES.get(cls)  # type: ignore[arg-type]
            if code is not None:
                wait = getattr(exc, "retry_after", None)
                return RpcError(code, exc.message, None if wait is None else retry_after(wait))
        return None
    if isinstance(exc, runtime.Overloaded):
        return RpcError(OVERLOADED, "Overloaded, retry later")
    if isinstance(exc, runtime.AskTimeout):
        return RpcError(TIMED_OUT, "Timed out")
    if isinstance(exc, runtime.ActorCrashed):
        # This request crashed the actor (its supervisor logged the traceback and
        # restarted it): retrying the same request would crash it again.
        return RpcError(INTERNAL_ERROR, "Internal error")
    if isinstance(exc, runtime.ActorStopped):
        return RpcError(OVERLOADED, "Service restarting, retry later")
    return None
