"""Settings of the tokens domain, its clock, and the password hasher profile."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping

import attrs

from actors.kv import AttemptPolicy
from actors.quota import QuotaLimits
from actors.tokens.crypto import PasswordHasher

log = logging.getLogger("actors.tokens")

DAY = 86_400.0
MAX_REUSE_INTERVAL = 300.0  # well inside an access token's life, so a re-answer is valid
ARGON2_PROFILE_ENV = "MG_ARGON2_PROFILE"


@attrs.frozen
class TokenSettings:
    """Lifetimes (seconds) and limits. The defaults are the documented ones."""

    access_ttl: int = 900
    refresh_ttl: float = 30 * DAY  # absolute: from login, whatever the rotations
    refresh_idle_ttl: float = 7 * DAY  # an unused refresh token dies after this
    # The direct predecessor of a family's newest refresh token, presented again within
    # this many seconds of its rotation, answers the same grant (0: never, a reuse).
    refresh_reuse_interval: float = attrs.field(default=30.0, validator=attrs.validators.and_(
        attrs.validators.ge(0), attrs.validators.le(MAX_REUSE_INTERVAL)))
    leeway: float = 5.0  # clock skew tolerated on access token times
    revocation_skew: float = 30.0  # how long past access_ttl a revocation is remembered
    issuer: str = "media-gateway"
    audience: str = "media-gateway-clients"
    throttle: AttemptPolicy = AttemptPolicy()  # the login lock (see throttle.LoginLock)
    hash_threads: int = 2  # Argon2 computations at once (each ~0.1 s of CPU)
    hash_queue: int = 64  # logins waiting for a hash slot before -32006
    hashes_per_connection: int = 2  # logins and registrations of one connection at once
    registrations: QuotaLimits = QuotaLimits(rate=10.0)  # new accounts a second per node
    max_families_per_user: int = 100  # logins (token families) a user holds; one more ends the oldest
    max_tokens_per_family: int = 1000  # refresh tokens kept per family; older spent ones are deleted
    housekeeping_interval: float = 3600.0  # purging expired families
    fallback_poll: float = 1.0  # re-reading revocations while pub/sub is down

    @classmethod
    def from_config(cls, config: object) -> TokenSettings:
        """Settings from the gateway `Config` (fields it lacks keep their defaults)."""
        ttl = getattr(config, "access_token_ttl", 900)
        reuse = getattr(config, "refresh_reuse_interval", 30.0)
        register_rate = getattr(config, "register_rate", 10.0)
        return cls(access_ttl=max(1, int(round(float(ttl)))), refresh_reuse_interval=float(reuse),
                   registrations=QuotaLimits(rate=float(register_rate)))


class Clock:
    """Wall-clock seconds plus an offset: one object every part of the domain reads
    time from, so a test can move the whole domain forward without sleeping."""

    __slots__ = ("offset",)

    def __init__(self, offset: float = 0.0) -> None:
        self.offset = offset

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


def ms(seconds: float) -> int:
    return int(seconds * 1000)


def hasher_from_env(environ: Mapping[str, str] = os.environ) -> PasswordHasher:
    """The production Argon2id hasher, or the cheap one when `MG_ARGON2_PROFILE=test`.

    Slow (one hash, about 0.1 s, is made up front): call it in a worker thread.
    """
    profile = (environ.get(ARGON2_PROFILE_ENV) or "default").strip().lower()
    if profile == "test":
        log.warning("%s=test: passwords are hashed with test parameters, unsafe for production",
                    ARGON2_PROFILE_ENV, extra={"event": "tokens.argon2_test_profile"})
        return PasswordHasher.for_tests()
    if profile != "default":
        raise ValueError(f"{ARGON2_PROFILE_ENV} must be 'default' or 'test', not {profile!r}")
    return PasswordHasher()
