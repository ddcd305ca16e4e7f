"""The tokens domain's entry: `start(env, settings, jwt_secret)` gives the tokens
actor's child spec and the facade handlers, the authorizer and the handshake check
call.

The check on every authenticated request reads memory only: the `TokenGuard` (codec
and revoked-family set), kept beside the tokens actor as a `Shared`. Logins, refreshes
and revocations touch the database; `on_revoked` is told of every family newly revoked
on this node, to close the connections it authenticated.
"""

from __future__ import annotations

import logging

import runtime
from actors.env import DomainEnv
from actors.tokens.accounts import Accounts
from actors.tokens.actor import OnFamiliesRevoked, TokensActor
from actors.tokens.crypto import JwtCodec, signing_key
from actors.tokens.guard import TokenGuard
from actors.tokens.messages import Revoke, Revoked
from actors.tokens.revoked import RevokedFamilies
from actors.tokens.settings import Clock, TokenSettings
from runtime import Shared

log = logging.getLogger("actors.tokens")

NAME = "tokens"
REVOKE_TIMEOUT = 10.0


def _ignore(families: object) -> None:
    pass


class TokensDomain:
    """What the node's other parts call on accounts and tokens. `children`: its actor;
    `guard`: the per-request check, shared with the actor that fills its revoked set;
    `accounts`: registration, login, refresh and profiles (in the caller's task)."""

    def __init__(
        self,
        env: DomainEnv,
        settings: TokenSettings,
        jwt_secret: str,
        *,
        on_revoked: OnFamiliesRevoked = _ignore,
        clock: Clock | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock if clock is not None else Clock()
        key, derived = signing_key(jwt_secret)
        if derived:
            log.warning("JWT_SECRET is shorter than 32 bytes; using a key derived from it. "
                        "Set a longer random secret for production.", extra={"event": "tokens.short_secret"})
        codec = JwtCodec(key, issuer=settings.issuer, audience=settings.audience,
                         ttl=settings.access_ttl, leeway=settings.leeway, clock=self.clock)
        revoked = RevokedFamilies(settings.access_ttl, self.clock, skew=settings.revocation_skew)
        self.guard = Shared(NAME, TokenGuard(codec, revoked, self.clock))
        self.accounts = Accounts(env.storage, codec, settings, self.clock, kv=env.kv,
                                 on_revoked=self._revoked_elsewhere)
        self._on_revoked = on_revoked
        accounts = self.accounts
        self.children = [self.guard.child(lambda guard: TokensActor(
            storage=env.storage, kv=env.kv, guard=guard, accounts=accounts, settings=settings,
            node_id=env.node_id, on_revoked=on_revoked))]

    async def revoke(self, family_id: str, reason: str) -> None:
        """Revoke a family durably, on this node at once and on the others through
        pub/sub; its connections are closed. `NotFound` for an unknown family."""
        await self.guard.ref.ask(Revoke(family_id, reason), timeout=REVOKE_TIMEOUT)

    async def _revoked_elsewhere(self, family_id: str, revoked_at_ms: int, reason: str) -> None:
        """A revocation made durable by a refresh (reuse): apply and spread it."""
        try:
            await self.guard.ref.ask(Revoked(family_id, revoked_at_ms, reason), timeout=2.0)
        except (runtime.ActorStopped, runtime.AskTimeout, runtime.Overloaded, LookupError):
            # The actor reloads revocations when it is back; meanwhile refuse here.
            self.guard.state.revoked.add(family_id, revoked_at_ms / 1000)
            self._on_revoked({family_id: reason})


def start(
    env: DomainEnv,
    settings: TokenSettings,
    jwt_secret: str,
    *,
    on_revoked: OnFamiliesRevoked = _ignore,
    clock: Clock | None = None,
) -> TokensDomain:
    """The tokens domain of this node: its child spec (nothing runs until a supervisor
    starts it) and its facade."""
    return TokensDomain(env, settings, jwt_secret, on_revoked=on_revoked, clock=clock)
