"""`auth.*` and `user.profile`; the authorizer and the handshake check.

The check on the hot path (`authorize`, `handshake`) reads memory only: the principal
set on the connection when it authenticated (already decoded), the clock and the
revoked-family set. The database is touched by logins, refreshes and revocations.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Mapping
from typing import Any

import attrs

import runtime
from actors.errors import DomainError, PermissionDenied
from actors.timefmt import iso_utc
from actors.tokens.accounts import MAX_DISPLAY_NAME, Accounts
from actors.tokens.actor import TokensActor
from actors.tokens.crypto import MAX_EMAIL_LENGTH, MAX_PASSWORD_LENGTH, JwtCodec, signing_key
from actors.tokens.guard import TokenGuard
from actors.tokens.messages import Revoke, Revoked
from actors.tokens.revoked import RevokedFamilies
from actors.tokens.settings import Clock, TokenSettings
from protocol import errors
from protocol.errors import RpcError, to_rpc_error
from protocol.methods import Access, MethodTable
from runtime import ChildSpec

log = logging.getLogger("protocol.tokens")

NAME = "tokens"
CLOSE_REVOKED = 4401
ADMIN = "admin"
INVALID_TOKEN = "Invalid or expired token"


@attrs.define(eq=False)
class TokensDomain:
    """This node's token machinery, in `services.domain_state["tokens"]`."""

    services: Any
    settings: TokenSettings
    clock: Clock
    guard: TokenGuard
    accounts: Accounts
    told: weakref.WeakSet = attrs.Factory(weakref.WeakSet)

    def close_connections(self, families: Mapping[str, str]) -> None:
        """Tell every connection authenticated by one of `families` (reason by family)
        `auth.revoked` and close it with 4401, once its current answers are out."""
        gateway = self.services.gateway
        if gateway is None:
            return
        for conn in list(gateway.connections):
            principal = conn.principal
            if principal is not None and principal.fam in families:
                self._close(conn, principal.fam, families[principal.fam])

    def _close(self, conn: Any, family_id: str, reason: str) -> None:
        if conn.closed or conn in self.told:
            return
        self.told.add(conn)
        conn.close_soon(CLOSE_REVOKED, "token revoked",
                        after=[("auth.revoked", {"family_id": family_id, "reason": reason})])

    async def revoked_elsewhere(self, family_id: str, revoked_at_ms: int, reason: str) -> None:
        """A revocation made durable by a refresh (reuse): apply and spread it."""
        try:
            await self.services.actor(NAME).ask(Revoked(family_id, revoked_at_ms, reason), timeout=2.0)
        except (runtime.ActorStopped, runtime.AskTimeout, runtime.Overloaded, LookupError):
            # The actor reloads revocations when it is back; meanwhile refuse here.
            self.guard.revoked.add(family_id, revoked_at_ms / 1000)
            self.close_connections({family_id: reason})

    async def revoke(self, family_id: str, reason: str) -> None:
        await self.services.actor(NAME).ask(Revoke(family_id, reason), timeout=10.0)


def children(services: Any) -> list[ChildSpec]:
    settings = TokenSettings.from_config(services.config)
    clock = Clock()
    key, derived = signing_key(services.jwt_secret)
    if derived:
        log.warning("JWT_SECRET is shorter than 32 bytes; using a key derived from it. "
                    "Set a longer random secret for production.", extra={"event": "tokens.short_secret"})
    codec = JwtCodec(key, issuer=settings.issuer, audience=settings.audience,
                     ttl=settings.access_ttl, leeway=settings.leeway, clock=clock)
    guard = TokenGuard(codec, RevokedFamilies(settings.access_ttl, clock, skew=settings.revocation_skew), clock)
    accounts = Accounts(services.storage, codec, settings, clock)
    domain = TokensDomain(services, settings, clock, guard, accounts)
    accounts.on_revoked = domain.revoked_elsewhere
    services.domain_state[NAME] = domain

    def make() -> TokensActor:
        return TokensActor(storage=services.storage, kv=services.kv, guard=guard, accounts=accounts,
                           settings=settings, node_id=services.node_id,
                           on_revoked=domain.close_connections)

    return [ChildSpec(NAME, make)]


def _string(max_length: int, min_length: int = 0) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string", "maxLength": max_length}
    if min_length:
        schema["minLength"] = min_length
    return schema


def _object(required: list[str], **properties: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": False}


GRANT_RESULT = {"type": "object", "properties": {
    "access_token": {"type": "string"}, "refresh_token": {"type": "string"},
    "token_type": {"const": "Bearer"}, "expires_in": {"type": "integer"},
    "family_id": {"type": "string"}, "user_id": {"type": "string"}}}
REVOKED_RESULT = {"type": "object", "properties": {"revoked": {"const": True}}}


def register(table: MethodTable, services: Any) -> None:
    domain: TokensDomain = services.domain_state[NAME]
    guard, accounts, clock = domain.guard, domain.accounts, domain.clock
    revoked = guard.revoked
    leeway = guard.codec.leeway

    def authorize(ctx: Any, access: Access) -> None:
        principal = ctx.principal
        if principal is None:
            raise RpcError(errors.AUTH_REQUIRED, "Authentication required")
        if principal.fam in revoked:
            # Normally closed already; this covers a connection that authenticated
            # while the revocation was on its way.
            domain._close(ctx, principal.fam, "revoked")
            raise RpcError(errors.TOKEN_REVOKED, "Token revoked")
        if principal.exp <= clock() - leeway:
            raise RpcError(errors.AUTH_REQUIRED, INVALID_TOKEN)
        if access is Access.ADMIN and ADMIN not in principal.roles:
            raise RpcError(errors.PERMISSION_DENIED, "Permission denied")

    async def handshake(header: str) -> Any:
        scheme, _, token = header.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise RpcError(errors.AUTH_REQUIRED, INVALID_TOKEN)
        try:
            return guard.check(token)
        except DomainError as exc:
            raise to_rpc_error(exc) from None  # type: ignore[misc]

    table.authorizer = authorize
    limiter = accounts.hashes.limiter
    services.metrics.add_callback_gauge(
        "mg_tokens_state", "Revoked families held in memory; password hashes running and waiting", "what",
        lambda: [("revoked_families", float(len(revoked))),
                 ("hashes_running", float(limiter.borrowed_tokens)),
                 ("hashes_waiting", float(limiter.statistics().tasks_waiting))])
    if services.gateway is not None:
        services.gateway.handshake_auth = handshake

    async def register_(params: dict, ctx: Any) -> dict:
        user_id = await accounts.register(params["email"], params["password"], params.get("display_name"))
        return {"user_id": user_id}

    async def login(params: dict, ctx: Any) -> dict:
        grant = await accounts.login(params["email"], params["password"])
        return grant.to_result()

    async def refresh(params: dict, ctx: Any) -> dict:
        grant = await accounts.refresh(params["refresh_token"])
        return grant.to_result()

    async def authenticate(params: dict, ctx: Any) -> dict:
        claims = guard.check(params["access_token"])
        ctx.principal = claims
        return {"user_id": claims.sub, "roles": list(claims.roles), "expires_at": iso_utc(claims.exp * 1000)}

    async def logout(params: dict, ctx: Any) -> dict:
        await domain.revoke(ctx.principal.fam, "logout")
        return {"revoked": True}

    async def revoke_family(params: dict, ctx: Any) -> dict:
        family_id = params["family_id"]
        principal = ctx.principal
        is_admin = ADMIN in principal.roles
        if family_id != principal.fam:
            owner = await accounts.family_owner(family_id)
            # A stranger learns nothing, not even whether the family exists.
            if not is_admin and owner != principal.sub:
                raise PermissionDenied("Only the family's owner or an admin may revoke it")
        await domain.revoke(family_id, "revoked_by_admin" if is_admin and family_id != principal.fam
                            else "revoked_by_owner")
        return {"revoked": True}

    async def profile(params: dict, ctx: Any) -> dict:
        return await accounts.profile(ctx.principal.sub)

    email = _string(MAX_EMAIL_LENGTH + 64)
    password = _string(MAX_PASSWORD_LENGTH)
    table.add("auth.register", register_, summary="Create an account (password: 8 to 1024 characters)",
              params=_object(["email", "password"], email=email, password=password,
                             display_name=_string(MAX_DISPLAY_NAME * 2)),
              result={"type": "object", "properties": {"user_id": {"type": "string"}}})
    table.add("auth.login", login, summary="Exchange credentials for an access and a refresh token",
              params=_object(["email", "password"], email=email, password=password), result=GRANT_RESULT)
    table.add("auth.refresh", refresh, summary="Rotate a refresh token: new tokens, same family",
              params=_object(["refresh_token"], refresh_token=_string(256)), result=GRANT_RESULT)
    table.add("auth.authenticate", authenticate, summary="Authenticate this connection with an access token",
              params=_object(["access_token"], access_token=_string(8192)),
              result={"type": "object", "properties": {
                  "user_id": {"type": "string"}, "roles": {"type": "array", "items": {"type": "string"}},
                  "expires_at": {"type": "string", "format": "date-time"}}})
    table.add("auth.logout", logout, access=Access.USER, summary="Revoke this connection's token family",
              result=REVOKED_RESULT)
    table.add("auth.revoke_family", revoke_family, access=Access.USER,
              summary="Revoke a token family (its owner or an admin)",
              params=_object(["family_id"], family_id=_string(128, 1)), result=REVOKED_RESULT)
    table.add("user.profile", profile, access=Access.USER, summary="The authenticated user's account",
              result={"type": "object", "properties": {
                  "user_id": {"type": "string"}, "email": {"type": "string"},
                  "display_name": {"type": "string"}, "roles": {"type": "array", "items": {"type": "string"}},
                  "created_at": {"type": "string", "format": "date-time"}}})
