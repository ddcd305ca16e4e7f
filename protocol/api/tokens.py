"""`auth.*` and `user.profile`; the authorizer, the handshake check and the closing of
revoked connections. The handlers are given `Needs`: the tokens domain, and the audit
log that a refused login writes to (with the caller's address).

The check on the hot path (`Authorizer`, `BearerCheck`) reads memory only: the
principal set on the connection when it authenticated (already decoded), the clock and
the revoked-family set. The database is touched by logins, refreshes and revocations.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable, Mapping

import attrs

from actors.errors import AuthRequired, DomainError, InvalidCredentials, Overloaded, PermissionDenied, TokenRevoked
from actors.timefmt import iso_utc
from actors.tokens import TokensDomain
from actors.tokens.accounts import MAX_DISPLAY_NAME
from actors.tokens.crypto import MAX_EMAIL_LENGTH, MAX_PASSWORD_LENGTH, AccessClaims
from protocol import errors
from protocol.audit import Audit
from protocol.calls import Call, Caller
from protocol.errors import RpcError, to_rpc_error
from protocol.methods import Access, Example, Notification, Schema, method

CLOSE_REVOKED = 4401
ADMIN = "admin"
INVALID_TOKEN = "Invalid or expired token"


@attrs.frozen
class Needs:
    tokens: TokensDomain
    audit: Audit


class Revocations:
    """Closes the connections a revoked token family authenticated: each is told
    `auth.revoked` and closed with 4401 once its current answers are out (once)."""

    def __init__(self, connections: Callable[[], Iterable[Caller]]) -> None:
        self._connections = connections
        self._told: weakref.WeakSet[Caller] = weakref.WeakSet()

    def close_families(self, families: Mapping[str, str]) -> None:
        """Close every connection of one of `families` (reason by family)."""
        for caller in list(self._connections()):
            principal = caller.principal
            if principal is not None and principal.fam in families:
                self.close(caller, principal.fam, families[principal.fam])

    def close(self, caller: Caller, family_id: str, reason: str) -> None:
        if caller.closed or caller in self._told:
            return
        self._told.add(caller)
        caller.close_soon(CLOSE_REVOKED, "token revoked",
                          after=[("auth.revoked", {"family_id": family_id, "reason": reason})])


class Authorizer:
    """The method table's check of `Access.USER` and `Access.ADMIN` methods."""

    def __init__(self, tokens: TokensDomain, revocations: Revocations) -> None:
        self._guard = tokens.guard.state
        self._revocations = revocations

    def __call__(self, caller: Caller, access: Access) -> None:
        principal = caller.principal
        if principal is None:
            raise RpcError(errors.AUTH_REQUIRED, "Authentication required")
        try:
            self._guard.still_valid(principal)
        except TokenRevoked:
            # Normally closed already; this covers a connection that authenticated
            # while the revocation was on its way.
            self._revocations.close(caller, principal.fam, "revoked")
            raise RpcError(errors.TOKEN_REVOKED, "Token revoked") from None
        except AuthRequired:
            raise RpcError(errors.AUTH_REQUIRED, INVALID_TOKEN) from None
        if access is Access.ADMIN and ADMIN not in principal.roles:
            raise RpcError(errors.PERMISSION_DENIED, "Permission denied")


class BearerCheck:
    """The transport's handshake check: an `Authorization: Bearer <access token>` header
    gives the connection its principal; anything else is refused (RpcError)."""

    def __init__(self, tokens: TokensDomain) -> None:
        self._guard = tokens.guard.state

    async def __call__(self, header: str) -> AccessClaims:
        scheme, _, token = header.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise RpcError(errors.AUTH_REQUIRED, INVALID_TOKEN)
        try:
            return self._guard.check(token)
        except DomainError as exc:
            raise to_rpc_error(exc) from None  # type: ignore[misc]


async def register(call: Call[Needs]) -> dict[str, object]:
    params = call.params
    user_id = await call.domain.tokens.accounts.register(params["email"], params["password"],
                                                         params.get("display_name"), owner=call.caller)
    return {"user_id": user_id}


async def login(call: Call[Needs]) -> dict[str, object]:
    email = call.params["email"]
    try:
        grant = await call.domain.tokens.accounts.login(email, call.params["password"], owner=call.caller)
    except (InvalidCredentials, Overloaded) as exc:
        # Overloaded: the e-mail is locked after repeated failures, too many logins wait,
        # or this connection has its password checks in progress already.
        reason = "invalid_credentials" if isinstance(exc, InvalidCredentials) else "overloaded"
        call.domain.audit.login_failed(call.caller.peer, email, reason)
        raise
    return grant.to_result()


async def refresh(call: Call[Needs]) -> dict[str, object]:
    return (await call.domain.tokens.accounts.refresh(call.params["refresh_token"])).to_result()


async def authenticate(call: Call[Needs]) -> dict[str, object]:
    claims = call.domain.tokens.guard.state.check(call.params["access_token"])
    call.caller.principal = claims
    return {"user_id": claims.sub, "roles": list(claims.roles), "expires_at": iso_utc(claims.exp * 1000)}


async def logout(call: Call[Needs]) -> dict[str, object]:
    await call.domain.tokens.revoke(call.user.fam, "logout")
    return {"revoked": True}


async def revoke_family(call: Call[Needs]) -> dict[str, object]:
    family_id = call.params["family_id"]
    principal = call.user
    is_admin = ADMIN in principal.roles
    if family_id != principal.fam:
        owner = await call.domain.tokens.accounts.family_owner(family_id)
        # A stranger learns nothing, not even whether the family exists.
        if not is_admin and owner != principal.sub:
            raise PermissionDenied("Only the family's owner or an admin may revoke it")
    reason = "revoked_by_admin" if is_admin and family_id != principal.fam else "revoked_by_owner"
    await call.domain.tokens.revoke(family_id, reason)
    return {"revoked": True}


async def profile(call: Call[Needs]) -> dict[str, object]:
    return await call.domain.tokens.accounts.profile(call.user.sub)


def _string(max_length: int, min_length: int = 0) -> Schema:
    schema: Schema = {"type": "string", "maxLength": max_length}
    if min_length:
        schema["minLength"] = min_length
    return schema


def _object(required: list[str], **properties: Schema) -> Schema:
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": False}


_EMAIL = _string(MAX_EMAIL_LENGTH + 64)
_PASSWORD = _string(MAX_PASSWORD_LENGTH)
GRANT_RESULT = {"title": "Grant", "type": "object", "properties": {
    "access_token": {"type": "string"}, "refresh_token": {"type": "string"},
    "token_type": {"const": "Bearer"}, "expires_in": {"type": "integer", "description": "seconds"},
    "family_id": {"type": "string"}, "user_id": {"type": "string"}},
    "required": ["access_token", "refresh_token", "token_type", "expires_in", "family_id", "user_id"]}
REVOKED_RESULT = {"type": "object", "properties": {"revoked": {"const": True}}, "required": ["revoked"]}

EXAMPLE_EMAIL, EXAMPLE_PASSWORD = "ada@example.com", "correct horse battery staple"
"""The account the examples use (auth.register's example creates it)."""
_ACCESS = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1XzAxIn0.c2lnbmF0dXJl"
_GRANT = {"access_token": _ACCESS, "refresh_token": "Jx0tY2fV3lq8YqB5rQmC1n0kq0aW8yX9cZs4uT7vN2E",
          "token_type": "Bearer", "expires_in": 900, "family_id": "f_3b1c9a7e", "user_id": "u_5f2d8c41"}

METHODS = [
    method("auth.register", register, summary="Create an account (password: 8 to 1024 characters)",
           params=_object(["email", "password"], email=_EMAIL, password=_PASSWORD,
                          display_name=_string(MAX_DISPLAY_NAME * 2)),
           result={"type": "object", "properties": {"user_id": {"type": "string"}}, "required": ["user_id"]},
           errors=[errors.CONFLICT, errors.TIMED_OUT],
           examples=[Example("new account", {"email": EXAMPLE_EMAIL, "password": EXAMPLE_PASSWORD,
                                             "display_name": "Ada"}, {"user_id": "u_5f2d8c41"})]),
    method("auth.login", login, summary="Exchange credentials for an access and a refresh token",
           params=_object(["email", "password"], email=_EMAIL, password=_PASSWORD), result=GRANT_RESULT,
           errors=[errors.INVALID_CREDENTIALS, errors.TIMED_OUT],
           examples=[Example("log in", {"email": EXAMPLE_EMAIL, "password": EXAMPLE_PASSWORD}, _GRANT)]),
    method("auth.refresh", refresh, summary="Rotate a refresh token: new tokens, same family",
           params=_object(["refresh_token"], refresh_token=_string(256)), result=GRANT_RESULT,
           errors=[errors.AUTH_REQUIRED, errors.TOKEN_REVOKED, errors.REFRESH_REUSE, errors.TIMED_OUT],
           examples=[Example("rotate", {"refresh_token": _GRANT["refresh_token"]},
                             {**_GRANT, "access_token": _ACCESS[:-4] + "MDAw",
                              "refresh_token": "pQ8rS1tU4vW7xY0zA3bC6dE9fG2hJ5kL8mN1oP4qR7s"})]),
    method("auth.authenticate", authenticate, summary="Authenticate this connection with an access token "
                                                      "(the browser's way: a page cannot set a handshake header)",
           params=_object(["access_token"], access_token=_string(8192)),
           result={"type": "object", "properties": {
               "user_id": {"type": "string"}, "roles": {"type": "array", "items": {"type": "string"}},
               "expires_at": {"type": "string", "format": "date-time"}},
               "required": ["user_id", "roles", "expires_at"]},
           errors=[errors.AUTH_REQUIRED, errors.TOKEN_REVOKED],
           examples=[Example("authenticate", {"access_token": _ACCESS},
                             {"user_id": "u_5f2d8c41", "roles": ["user"], "expires_at": "2026-12-04T16:15:00Z"})]),
    method("auth.logout", logout, access=Access.USER, summary="Revoke this connection's token family",
           result=REVOKED_RESULT, errors=[errors.TIMED_OUT],
           examples=[Example("log out", {}, {"revoked": True})]),
    method("auth.revoke_family", revoke_family, access=Access.USER,
           summary="Revoke a token family (its owner or an admin)",
           params=_object(["family_id"], family_id=_string(128, 1)), result=REVOKED_RESULT,
           errors=[errors.PERMISSION_DENIED, errors.TIMED_OUT],
           examples=[Example("revoke another device's login", {"family_id": _GRANT["family_id"]},
                             {"revoked": True})]),
    method("user.profile", profile, access=Access.USER, summary="The authenticated user's account",
           result={"title": "Profile", "type": "object", "properties": {
               "user_id": {"type": "string"}, "email": {"type": "string"},
               "display_name": {"type": "string"}, "roles": {"type": "array", "items": {"type": "string"}},
               "created_at": {"type": "string", "format": "date-time"}},
               "required": ["user_id", "email", "display_name", "roles", "created_at"]},
           errors=[errors.TIMED_OUT],
           examples=[Example("profile", {}, {"user_id": "u_5f2d8c41", "email": EXAMPLE_EMAIL, "display_name": "Ada",
                                             "roles": ["user"], "created_at": "2026-12-04T16:00:00Z"})]),
]

NOTIFICATIONS = [
    Notification("auth.revoked", _object(["family_id", "reason"], family_id={"type": "string"},
                                         reason={"type": "string",
                                                 "description": "logout, revoked_by_owner, revoked_by_admin, "
                                                                "reuse_detected, ..."}),
                 summary="The token family that authenticated this connection was revoked",
                 description="Sent on every node within a second of the revocation; the connection is then "
                             "closed with code 4401. Log in again (the family's refresh tokens are dead too)."),
]
