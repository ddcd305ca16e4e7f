"""Credentials and tokens: password hashing, input validation, JWT access tokens,
opaque refresh tokens. Pure functions and small objects; no I/O.

Argon2 hashing is CPU-bound (about 0.1 s with the default parameters); an actor should
run `hash`, `verify` and `dummy_verify` in a worker thread (argon2-cffi releases the
GIL while it works).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from collections.abc import Callable, Iterable
from typing import Any

import argon2
import attrs
import jwt
from argon2 import profiles
from argon2.exceptions import InvalidHashError, VerificationError

from actors.errors import AuthRequired, InvalidParams

__all__ = [
    "AccessClaims",
    "JwtCodec",
    "PasswordHasher",
    "hash_refresh_token",
    "new_refresh_token",
    "normalize_email",
    "signing_key",
    "validate_password",
]

# ---------------------------------------------------------------------------- input

MAX_EMAIL_LENGTH = 254  # RFC 5321 path limit minus the angle brackets
MAX_LOCAL_PART_LENGTH = 64
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024

# The WHATWG HTML "valid e-mail address" pattern: what browsers accept in
# <input type=email>. Deliberately simpler than RFC 5322 (no quoted local parts, no
# comments, ASCII only).
_EMAIL_RE = re.compile(
    r"[a-z0-9.!#$%&'*+/=?^_`{|}~-]+"
    r"@[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
    r"(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*"
)


def normalize_email(value: object, field: str = "email") -> str:
    """Strip and lowercase an e-mail address and check its shape.

    The whole address is lowercased (the local part is case-sensitive in theory, never
    in practice), so `Bob@Example.com` and `bob@example.com` are one account.
    Raises `InvalidParams(field, ...)`.
    """
    if not isinstance(value, str):
        raise InvalidParams(field, "must be a string")
    email = value.strip().lower()
    if not email:
        raise InvalidParams(field, "must not be empty")
    if len(email) > MAX_EMAIL_LENGTH:
        raise InvalidParams(field, f"must be at most {MAX_EMAIL_LENGTH} characters")
    if _EMAIL_RE.fullmatch(email) is None:
        raise InvalidParams(field, "is not a valid e-mail address")
    if len(email.partition("@")[0]) > MAX_LOCAL_PART_LENGTH:
        raise InvalidParams(
            field, f"the part before @ must be at most {MAX_LOCAL_PART_LENGTH} characters"
        )
    return email


def validate_password(value: object, field: str = "password") -> str:
    """Return the password unchanged if it is a string of 8..1024 characters."""
    if not isinstance(value, str):
        raise InvalidParams(field, "must be a string")
    if not MIN_PASSWORD_LENGTH <= len(value) <= MAX_PASSWORD_LENGTH:
        raise InvalidParams(
            field,
            f"must be {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters long",
        )
    return value


# ------------------------------------------------------------------------ passwords

_RFC_9106_LOW_MEMORY = profiles.RFC_9106_LOW_MEMORY


class PasswordHasher:
    """Argon2id hashing with configurable cost.

    Defaults are RFC 9106's second recommended option (argon2-cffi's
    `RFC_9106_LOW_MEMORY`: t=3, m=64 MiB, p=4). `dummy_verify` verifies against a hash
    made with the same parameters, so a login for an unknown e-mail costs what a real
    one costs and does not reveal whether the account exists.
    """

    def __init__(
        self,
        *,
        time_cost: int = _RFC_9106_LOW_MEMORY.time_cost,
        memory_cost: int = _RFC_9106_LOW_MEMORY.memory_cost,
        parallelism: int = _RFC_9106_LOW_MEMORY.parallelism,
        hash_len: int = _RFC_9106_LOW_MEMORY.hash_len,
        salt_len: int = _RFC_9106_LOW_MEMORY.salt_len,
    ) -> None:
        self._ph = argon2.PasswordHasher(
            time_cost=time_cost,
            memory_cost=memory_cost,
            parallelism=parallelism,
            hash_len=hash_len,
            salt_len=salt_len,
            type=argon2.Type.ID,
        )
        # Made once, eagerly: a lazy one would make the first unknown-e-mail login
        # cost a hash more than the others.
        self._dummy_hash = self._ph.hash(secrets.token_urlsafe(24))

    @classmethod
    def for_tests(cls) -> PasswordHasher:
        """The cheapest valid Argon2id parameters (well under a millisecond). Tests only."""
        return cls(time_cost=1, memory_cost=8, parallelism=1)

    def hash(self, password: str) -> str:
        """A PHC-format string (`$argon2id$v=19$m=...`) with a fresh random salt."""
        return self._ph.hash(password)

    def verify(self, hashed: str, password: str) -> bool:
        """True if `password` matches `hashed`; False on mismatch or a malformed hash."""
        try:
            return self._ph.verify(hashed, password)
        except (VerificationError, InvalidHashError):
            return False

    def dummy_verify(self, password: str) -> bool:
        """Spend the time of a real verify, for an unknown e-mail. Always False."""
        self.verify(self._dummy_hash, password)
        return False

    def needs_rehash(self, hashed: str) -> bool:
        """True if `hashed` was made with other parameters than the current ones."""
        try:
            return self._ph.check_needs_rehash(hashed)
        except InvalidHashError:
            return True


# ------------------------------------------------------------------- access tokens

ALGORITHM = "HS256"
MIN_SECRET_BYTES = 32  # RFC 7518 §3.2: an HS256 key at least as long as the hash
_REQUIRED_CLAIMS = ["iss", "aud", "sub", "iat", "exp", "jti", "fam", "roles"]
_INVALID_TOKEN = "Invalid or expired token"


@attrs.frozen
class AccessClaims:
    """What a valid access token says: who (`sub`), which family, which roles, when."""

    sub: str
    fam: str
    roles: tuple[str, ...]
    jti: str
    iat: int
    exp: int


def signing_key(secret: bytes | str) -> tuple[bytes, bool]:
    """The HS256 key for a configured secret, and whether it had to be derived.

    A secret of at least 32 bytes is the key itself (so other services holding the
    same secret can check tokens with any JWT library). A shorter one (an operator's
    `JWT_SECRET=secret`) is stretched to 32 bytes with SHA-256: a weak secret stays
    weak, and the caller should say so, but every node given the same secret derives
    the same key, so tokens still pass between nodes.
    """
    raw = secret.encode() if isinstance(secret, str) else bytes(secret)
    if not raw:
        raise ValueError("the JWT secret must not be empty")
    if len(raw) >= MIN_SECRET_BYTES:
        return raw, False
    return hashlib.sha256(b"media-gateway jwt key\x00" + raw).digest(), True


class JwtCodec:
    """Issue and check HS256 access tokens.

    `decode` pins the algorithm, checks signature, issuer, audience, presence and type
    of every claim and expiry against the injected `clock`; every failure raises the
    same `AuthRequired("Invalid or expired token")`, so a client learns nothing about
    why. `leeway` (seconds) tolerates clock skew between nodes on `exp`, `iat` and
    `nbf`. Every time claim has a range, even in a correctly signed token: `iat` from
    the epoch to now, `exp` after `iat` by at most `ttl` (a longer-lived token would
    outlive the memory of its family's revocation), `nbf` (never issued, honoured if
    present) from the epoch to now. So every node of a gateway must use one `ttl`.
    """

    def __init__(
        self,
        secret: bytes | str,
        *,
        issuer: str = "media-gateway",
        audience: str = "media-gateway-clients",
        ttl: int = 900,
        leeway: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        key = secret.encode() if isinstance(secret, str) else bytes(secret)
        if len(key) < MIN_SECRET_BYTES:
            raise ValueError(f"the JWT secret must be at least {MIN_SECRET_BYTES} bytes")
        if not isinstance(ttl, int) or isinstance(ttl, bool) or ttl < 1:
            raise ValueError("ttl must be a positive whole number of seconds")
        if leeway < 0:
            raise ValueError("leeway must not be negative")
        self._key = key
        self.issuer = issuer
        self.audience = audience
        self.ttl = ttl
        self.leeway = leeway
        self._clock = clock
        # Time checks are done here against `clock`, not by pyjwt against the wall
        # clock, so expiry is testable without sleeping. One PyJWT with fixed options
        # avoids merging option dicts on every call.
        self._jwt = jwt.PyJWT(
            options={
                "verify_signature": True,
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
                "verify_aud": True,
                "verify_iss": True,
                "verify_sub": True,
                "verify_jti": True,
                "require": _REQUIRED_CLAIMS,
                "strict_aud": True,
            }
        )
        self._algorithms = [ALGORITHM]

    def issue(
        self, user_id: str, family_id: str, roles: Iterable[str]
    ) -> tuple[str, int]:
        """Return `(token, expires_at)`, `expires_at` in whole seconds since the epoch."""
        iat = int(self._clock())
        exp = iat + self.ttl
        payload = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": user_id,
            "iat": iat,
            "exp": exp,
            "jti": secrets.token_urlsafe(12),
            "fam": family_id,
            "roles": list(roles),
        }
        return self._jwt.encode(payload, self._key, algorithm=ALGORITHM), exp

    def decode(self, token: object) -> AccessClaims:
        """Check `token` and return its claims, or raise `AuthRequired`."""
        if not isinstance(token, str) or not token:
            raise AuthRequired(_INVALID_TOKEN)
        try:
            payload = self._jwt.decode(
                token,
                self._key,
                algorithms=self._algorithms,
                audience=self.audience,
                issuer=self.issuer,
            )
        except (jwt.PyJWTError, ValueError, TypeError):
            raise AuthRequired(_INVALID_TOKEN) from None
        claims = _claims_from(payload)
        if claims is None:
            raise AuthRequired(_INVALID_TOKEN)
        now = self._clock()
        if not 0 <= claims.iat <= now + self.leeway:
            raise AuthRequired(_INVALID_TOKEN)
        if not (claims.iat < claims.exp <= claims.iat + self.ttl and claims.exp > now - self.leeway):
            raise AuthRequired(_INVALID_TOKEN)
        nbf = payload.get("nbf")
        if nbf is not None and not (_is_int(nbf) and 0 <= nbf <= now + self.leeway):
            raise AuthRequired(_INVALID_TOKEN)
        return claims


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _claims_from(payload: dict[str, Any]) -> AccessClaims | None:
    sub, fam, jti = payload["sub"], payload["fam"], payload["jti"]
    roles, iat, exp = payload["roles"], payload["iat"], payload["exp"]
    if not (isinstance(sub, str) and sub and isinstance(fam, str) and fam):
        return None
    if not (isinstance(jti, str) and _is_int(iat) and _is_int(exp)):
        return None
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        return None
    return AccessClaims(sub=sub, fam=fam, roles=tuple(roles), jti=jti, iat=iat, exp=exp)


# ------------------------------------------------------------------ refresh tokens


def new_refresh_token() -> str:
    """An opaque refresh token: 256 random bits, URL-safe base64 (43 characters)."""
    return secrets.token_urlsafe(32)


def hash_refresh_token(token: str) -> str:
    """The form a refresh token is stored and looked up in: SHA-256, hex.

    No salt and no slow KDF: those defend low-entropy secrets (passwords) against
    guessing. A token of 256 uniformly random bits cannot be guessed from its hash, and
    an unsalted digest keeps the lookup a plain indexed equality.
    """
    return hashlib.sha256(token.encode()).hexdigest()
