"""Accounts and token grants: register, log in, rotate refresh tokens, profiles.

These operations are stateless apart from the database, so they run concurrently in
the callers' tasks rather than one at a time in an actor; the Argon2 work goes to
worker threads through a `HashPool` that bounds how many run and how many wait. What
must be owned (the revoked set, spreading revocations) is the tokens actor's.
"""

from __future__ import annotations

import logging
import secrets
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import attrs
import trio

from actors.errors import (
    AuthRequired,
    Conflict,
    InvalidCredentials,
    InvalidParams,
    Overloaded,
    RefreshReuse,
    TokenRevoked,
    storage_errors,
)
from actors.kv import KV, MemoryKV
from actors.quota import Quota
from actors.storage import Storage, UniqueViolation
from actors.tokens import store
from actors.tokens.crypto import (
    JwtCodec,
    PasswordHasher,
    hash_refresh_token,
    new_refresh_token,
    normalize_email,
    validate_password,
)
from actors.timefmt import iso_utc
from actors.tokens.grace import seal, unseal
from actors.tokens.settings import Clock, TokenSettings, hasher_from_env, ms
from actors.tokens.throttle import LoginLock

log = logging.getLogger("actors.tokens")

T = TypeVar("T")

USER_ROLES = ["user"]
ADMIN_ROLES = ["user", "admin"]
MAX_DISPLAY_NAME = 100
REUSE_REASON = "refresh_token_reuse"
SUPERSEDED_REASON = "too_many_logins"
_INVALID_REFRESH = "Invalid or expired refresh token"

OnRevoked = Callable[[str, int, str], Awaitable[None]]
"""Told (family_id, revoked_at_ms, reason) after a revocation was made durable here."""


def new_user_id() -> str:
    return "u_" + secrets.token_hex(10)


def new_family_id() -> str:
    return "f_" + secrets.token_hex(12)


def _display_name(value: object, email: str) -> str:
    if value is None:
        return email.partition("@")[0]
    if not isinstance(value, str):
        raise InvalidParams("display_name", "must be a string")
    name = value.strip()
    if len(name) > MAX_DISPLAY_NAME:
        raise InvalidParams("display_name", f"must be at most {MAX_DISPLAY_NAME} characters")
    return name or email.partition("@")[0]


async def insert_new_user(
    storage: Storage, hasher: PasswordHasher | Callable[[str], Awaitable[str]], *,
    email: object, password: object, display_name: object = None, admin: bool = False,
    now_ms: int,
) -> str:
    email = normalize_email(email)
    password = validate_password(password)
    name = _display_name(display_name, email)
    if isinstance(hasher, PasswordHasher):
        hashed = await trio.to_thread.run_sync(hasher.hash, password)
    else:
        hashed = await hasher(password)
    user_id = new_user_id()
    try:
        with storage_errors():
            await store.insert_user(storage, user_id, email, hashed, name,
                                    ADMIN_ROLES if admin else USER_ROLES, now_ms)
    except UniqueViolation:
        raise Conflict("This e-mail address is already registered") from None
    log.info("user %s registered%s", user_id, " (admin)" if admin else "",
             extra={"event": "tokens.user_created", "user_id": user_id, "admin": admin})
    return user_id


async def create_user(
    storage: Storage, *, email: object, password: object, display_name: object = None,
    admin: bool = False, hasher: PasswordHasher | None = None,
) -> str:
    """Create an account straight in storage (the CLI, tests); returns its id.

    Safe beside a running gateway on the same database: it is one INSERT, and logins
    read the database, so the user can log in at once. Raises `InvalidParams` for a
    bad e-mail or password and `Conflict` when the e-mail is taken.
    """
    if hasher is None:
        hasher = await trio.to_thread.run_sync(hasher_from_env)
    return await insert_new_user(storage, hasher, email=email, password=password,
                                 display_name=display_name, admin=admin,
                                 now_ms=ms(Clock()()))


class HashPool:
    """Runs Argon2 in worker threads: at most `threads` at once, at most `queue`
    waiting; past that a login is refused with `Overloaded` at once, so a flood of
    logins can neither take every worker thread nor pile up without bound. One
    connection may have at most `per_connection` logins or registrations in progress
    (`slot`), so that one connection cannot fill the queue for everyone."""

    def __init__(self, hasher: PasswordHasher | None, *, threads: int, queue: int, per_connection: int = 2) -> None:
        self.hasher = hasher
        self.limiter = trio.CapacityLimiter(threads)
        self.queue = queue
        self.per_connection = per_connection
        self._in_progress: weakref.WeakKeyDictionary[object, int] = weakref.WeakKeyDictionary()

    @asynccontextmanager
    async def slot(self, owner: object = None) -> AsyncIterator[None]:
        """One of `owner`'s (a connection's) password checks in progress; `Overloaded`
        when it has `per_connection` already. None: not counted (the CLI, tests)."""
        if owner is None:
            yield
            return
        busy = self._in_progress.get(owner, 0)
        if busy >= self.per_connection:
            raise Overloaded("Too many logins at once on this connection, retry later", retry_after=0.25)
        self._in_progress[owner] = busy + 1
        try:
            yield
        finally:
            left = self._in_progress.get(owner, 1) - 1
            if left:
                self._in_progress[owner] = left
            else:
                self._in_progress.pop(owner, None)

    async def prepare(self) -> None:
        if self.hasher is None:
            self.hasher = await trio.to_thread.run_sync(hasher_from_env)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        if self.limiter.statistics().tasks_waiting >= self.queue:
            raise Overloaded("Too many logins at once, retry later")
        return await trio.to_thread.run_sync(fn, *args, limiter=self.limiter)

    async def hash(self, password: str) -> str:
        assert self.hasher is not None, "HashPool.prepare() first"
        return await self.run(self.hasher.hash, password)


@attrs.frozen
class Grant:
    """What a login or a refresh gives the client."""

    access_token: str
    refresh_token: str
    expires_in: int
    expires_at: int
    family_id: str
    user_id: str

    def to_result(self) -> dict[str, Any]:
        return {
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "family_id": self.family_id,
            "user_id": self.user_id,
        }


class Accounts:
    """Registration, login, refresh rotation and profiles over the storage port."""

    def __init__(
        self,
        storage: Storage,
        codec: JwtCodec,
        settings: TokenSettings,
        clock: Clock,
        *,
        hashes: HashPool | None = None,
        kv: KV | None = None,
        on_revoked: OnRevoked | None = None,
    ) -> None:
        self.storage = storage
        self.codec = codec
        self.settings = settings
        self.clock = clock
        self.hashes = hashes or HashPool(None, threads=settings.hash_threads, queue=settings.hash_queue,
                                         per_connection=settings.hashes_per_connection)
        self.registrations = Quota(settings.registrations)
        # The login lock counts in `kv` (shared on Redis); in process without one.
        self.lock = LoginLock(kv if kv is not None else MemoryKV(), settings.throttle, clock)
        self.on_revoked = on_revoked

    async def prepare(self) -> None:
        """Build the password hasher (slow: one Argon2 hash) in a worker thread."""
        await self.hashes.prepare()

    @property
    def hasher(self) -> PasswordHasher:
        assert self.hashes.hasher is not None, "Accounts.prepare() first"
        return self.hashes.hasher

    # ------------------------------------------------------------------ accounts

    async def register(self, email: object, password: object, display_name: object = None,
                       owner: object = None) -> str:
        """A new account; `Overloaded` past the node's rate of new accounts or while
        `owner` (the caller's connection) has its password checks in progress."""
        normalize_email(email)
        validate_password(password)
        _display_name(display_name, "")
        async with self.hashes.slot(owner):
            if not self.registrations.take():
                raise Overloaded("Too many new accounts, retry later",
                                 retry_after=min(60.0, self.registrations.retry_after()))
            return await insert_new_user(self.storage, self.hashes.hash, email=email, password=password,
                                         display_name=display_name, now_ms=ms(self.clock()))

    async def profile(self, user_id: str) -> dict[str, Any]:
        with storage_errors():
            row = await store.user_by_id(self.storage, user_id)
        if row is None:
            raise AuthRequired("Invalid or expired token")  # the account is gone
        return {
            "user_id": row["id"],
            "email": row["email"],
            "display_name": row["display_name"],
            "roles": store.roles_of(row),
            "created_at": iso_utc(int(row["created_at"])),
        }

    # --------------------------------------------------------------------- login

    async def login(self, email: object, password: object, owner: object = None) -> Grant:
        """A new token family for valid credentials.

        A wrong password and an unknown (or malformed) e-mail give the same
        `InvalidCredentials` after the same Argon2 work. Each attempt for a valid
        e-mail is counted by the login lock as it is admitted, before that work; past
        the policy's limit, `Overloaded` (with `retry_after`) until the lock ends.
        """
        async with self.hashes.slot(owner):
            return await self._login(email, password)

    async def _login(self, email: object, password: object) -> Grant:
        if not isinstance(password, str):
            password = ""
        try:
            address: str | None = normalize_email(email)
        except InvalidParams:
            address = None
        user = None
        if address is not None:
            await self.lock.admit(address)
            with storage_errors():
                user = await store.user_by_email(self.storage, address)
        hasher = self.hasher
        if user is not None:
            ok = await self.hashes.run(hasher.verify, user["password_hash"], password)
        else:
            ok = await self.hashes.run(hasher.dummy_verify, password)
        now = self.clock()
        if not ok:
            raise InvalidCredentials()
        assert user is not None and address is not None
        await self.lock.succeeded(address)
        with storage_errors():
            if hasher.needs_rehash(user["password_hash"]):
                rehashed = await self.hashes.run(hasher.hash, password)
                await store.update_password_hash(self.storage, user["id"], rehashed, ms(now))
        return await self._open_family(user["id"], store.roles_of(user), now)

    async def _open_family(self, user_id: str, roles: list[str], now: float) -> Grant:
        s = self.settings
        family_id = new_family_id()
        refresh = new_refresh_token()
        family_expires = ms(now + s.refresh_ttl)
        with storage_errors():
            async with self.storage.transaction() as tx:
                await store.insert_family(tx, family_id, user_id, ms(now), family_expires)
                await store.insert_refresh_token(
                    tx, hash_refresh_token(refresh), family_id, None, ms(now), family_expires,
                    min(family_expires, ms(now + s.refresh_idle_ttl)))
                # At most `max_families_per_user` logins at once: one more ends the oldest.
                superseded = await store.families_past(tx, user_id, ms(now), s.max_families_per_user)
                for old in superseded:
                    await store.revoke_family(tx, old, ms(now), SUPERSEDED_REASON)
        for old in superseded:
            log.info("token family %s revoked: more than %d logins", old, s.max_families_per_user,
                     extra={"event": "tokens.family_superseded", "family_id": old})
            if self.on_revoked is not None:
                await self.on_revoked(old, ms(now), SUPERSEDED_REASON)
        return self._grant(user_id, family_id, roles, refresh)

    def _grant(self, user_id: str, family_id: str, roles: list[str], refresh: str) -> Grant:
        access, expires_at = self.codec.issue(user_id, family_id, roles)
        return Grant(access_token=access, refresh_token=refresh, expires_in=self.codec.ttl,
                     expires_at=expires_at, family_id=family_id, user_id=user_id)

    # ------------------------------------------------------------------- refresh

    async def refresh(self, token: object) -> Grant:
        """Rotate: spend `token` and issue its successor in the same family, in one
        transaction.

        The direct predecessor of the family's newest token, presented again within
        `refresh_reuse_interval` of its rotation (two tabs refreshing at once, a retry
        after a lost answer), answers the very grant it got then (see `grace`). Any
        other spent token presented again means it leaked: the family is revoked (in
        the same transaction, so durably) and `RefreshReuse` raised. Unknown or
        expired: `AuthRequired`; a revoked family: `TokenRevoked`.
        """
        if not isinstance(token, str) or not 16 <= len(token) <= 128:
            raise AuthRequired(_INVALID_REFRESH)
        s = self.settings
        token_hash = hash_refresh_token(token)
        now = self.clock()
        now_ms = ms(now)
        grant: Grant | None = None
        outcome = "invalid"
        family_id = ""
        with storage_errors():
            async with self.storage.transaction() as tx:
                row = await store.refresh_token(tx, token_hash)
                if row is not None:
                    family_id = row["family_id"]
                    outcome = await self._rotate(tx, row, token_hash, now_ms)
                    if outcome == "ok":
                        user = await store.user_by_id(tx, row["user_id"])
                        if user is None:
                            outcome = "invalid"
                        else:
                            successor = new_refresh_token()
                            grant = self._grant(user["id"], family_id, store.roles_of(user), successor)
                            expires = int(row["family_expires_at"])
                            sealed = seal(token, successor, grant.access_token) if s.refresh_reuse_interval else None
                            await store.insert_refresh_token(
                                tx, hash_refresh_token(successor), family_id, token_hash, now_ms,
                                expires, min(expires, ms(now + s.refresh_idle_ttl)), sealed)
                            # A family keeps its newest tokens only: rows per login are bounded.
                            await store.prune_spent_tokens(tx, family_id, s.max_tokens_per_family)
                    elif outcome == "spent":
                        # Read after any concurrent rotation of this token committed
                        # (its row lock on PostgreSQL, the single writer on SQLite).
                        grant = await self._again(tx, token, token_hash, row, now_ms)
                        if grant is None:
                            await store.revoke_family(tx, family_id, now_ms, REUSE_REASON)
                            outcome = "reuse"
                        else:
                            outcome = "ok"
        if outcome == "ok" and grant is not None:
            return grant
        if outcome == "reuse":
            log.warning("refresh token reuse: family %s revoked", family_id,
                        extra={"event": "tokens.refresh_reuse", "family_id": family_id})
            if self.on_revoked is not None:
                await self.on_revoked(family_id, now_ms, REUSE_REASON)
            raise RefreshReuse()
        if outcome == "reused":
            raise RefreshReuse()
        if outcome == "revoked":
            raise TokenRevoked()
        raise AuthRequired(_INVALID_REFRESH)

    async def _rotate(self, tx: Any, row: dict[str, Any], token_hash: str, now_ms: int) -> str:
        """Spend the token inside `tx`: "ok", "spent" (before, or just now by a
        concurrent refresh that committed first), or why not."""
        if row["revoked_at"] is not None:
            return "reused" if row["used_at"] is not None else "revoked"
        if row["used_at"] is None:
            if now_ms >= min(int(row["expires_at"]), int(row["idle_expires_at"]),
                             int(row["family_expires_at"])):
                return "expired"
            if await store.mark_used(tx, token_hash, now_ms):
                return "ok"
        return "spent"

    async def _again(self, tx: Any, token: str, token_hash: str, row: dict[str, Any],
                     now_ms: int) -> Grant | None:
        """The grant `token` was rotated into, if the grace allows answering it again:
        its successor is still unspent (so `token` is the direct predecessor of the
        newest), was issued within the interval, and its seal opens."""
        interval_ms = ms(self.settings.refresh_reuse_interval)
        if interval_ms <= 0:
            return None
        nxt = await store.successor(tx, token_hash)
        if nxt is None or nxt["used_at"] is not None or nxt["sealed"] is None:
            return None
        if now_ms - int(nxt["issued_at"]) > interval_ms:
            return None
        pair = unseal(token, nxt["sealed"], nxt["token_hash"])
        if pair is None:
            return None
        refresh, access = pair
        try:
            claims = self.codec.decode(access)
        except AuthRequired:
            return None
        return Grant(access_token=access, refresh_token=refresh, expires_in=self.codec.ttl,
                     expires_at=claims.exp, family_id=row["family_id"], user_id=row["user_id"])

    # ---------------------------------------------------------------- families

    async def family_owner(self, family_id: str) -> str | None:
        with storage_errors():
            row = await store.family(self.storage, family_id)
        return None if row is None else row["user_id"]
