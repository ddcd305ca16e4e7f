"""Audit lines for operators: failed logins and refused WebSocket handshakes.

Each line names the peer's address. A login's e-mail appears only masked (`j***@example.com`)
and as `email_hash`, a keyed hash (HMAC-SHA256 under a key derived from the JWT secret,
so every node of a deployment gives one address the same hash, and nobody without the
secret can test guesses against it); the password never appears. Lines go to the
`audit` logger at WARNING, at most `per_window` of one kind per `window` seconds: a
flood of bad logins or handshakes cannot flood the log (the next line after a flood
says how many were left out). `counts` counts every event, logged or not, for
/metrics (`mg_audit_events_total`).
"""

from __future__ import annotations

import collections
import hashlib
import hmac
import logging
import re
import secrets
from typing import Callable

import trio

from protocol.logthrottle import LogThrottle

__all__ = ["Audit", "audit_key", "mask_email"]

log = logging.getLogger("audit")

LOGIN_FAILED = "audit.login_failed"
HANDSHAKE_REFUSED = "audit.handshake_refused"

_DOMAIN = re.compile(r"[a-z0-9.-]{1,253}")


def audit_key(jwt_secret: str) -> bytes:
    """The e-mail hashing key: derived from the deployment's JWT secret, distinct from
    the token signing key."""
    return hmac.new(jwt_secret.encode(), b"media-gateway audit e-mail", hashlib.sha256).digest()


def mask_email(value: str) -> str:
    """`j***@example.com`: the first character of the local part (when it is a plain
    letter or digit) and the domain (when it is a plain host name), nothing else. Safe
    to print: whatever a client sent, the result holds no control characters."""
    local, at, domain = value.strip().lower().rpartition("@")
    if not at:
        return "***"
    first = local[:1] if local[:1].isascii() and local[:1].isalnum() else ""
    return f"{first}***@{domain if _DOMAIN.fullmatch(domain) else '?'}"


class Audit:
    """The audit log of one gateway process (see the module docstring)."""

    def __init__(self, key: bytes | None = None, *, per_window: int = 10, window: float = 10.0,
                 clock: Callable[[], float] = trio.current_time) -> None:
        self.key = key if key is not None else secrets.token_bytes(32)
        """Until the application sets the deployment's key, a random one (hashes then
        match only within this process)."""
        self.counts: collections.Counter[tuple[str, str]] = collections.Counter()
        """Events by (event, reason), logged or not."""
        self._throttle = LogThrottle(per_window, window)
        self._clock = clock

    def email_hash(self, email: str) -> str:
        normalized = email.strip().lower().encode("utf-8", "replace")
        return hmac.new(self.key, normalized, hashlib.sha256).hexdigest()[:16]

    def login_failed(self, peer: str, email: str, reason: str) -> None:
        """A login refused for `reason` (`invalid_credentials`, `overloaded`)."""
        self._line(LOGIN_FAILED, "login failed", peer=peer, email=mask_email(email),
                   email_hash=self.email_hash(email), reason=reason)

    def handshake_refused(self, peer: str, status: int, reason: str) -> None:
        """A WebSocket handshake answered with HTTP `status` for `reason` (a short slug:
        `wrong_path`, `shutting_down`, `too_many_connections`, `invalid_token`, ...)."""
        self._line(HANDSHAKE_REFUSED, "handshake refused", peer=peer, status=status, reason=reason)

    def _line(self, event: str, msg: str, *, reason: str, **fields: object) -> None:
        self.counts[event, reason] += 1
        dropped = self._throttle.allow(event, self._clock())
        if dropped is None:
            return
        extra = {"event": event, **fields, "reason": reason}
        if dropped:
            extra["not_logged"] = dropped  # lines of this kind left out since the last one
        log.warning(msg, extra=extra)
