"""The login lock: how repeated logins for one e-mail are slowed down."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable

from actors.errors import Overloaded
from actors.kv import KV, AttemptPolicy

log = logging.getLogger("actors.tokens")

class LoginLock:
    """Under `policy` (by default: at most 5 logins per e-mail in a streak of 900 s,
    then refused, -32006, for 30 s, doubling with each further admitted attempt up to
    900 s; a successful login ends the streak).

    Counts a login attempt for an e-mail when it is admitted, before any password
    work, in the KV (`KV.count_attempt`: atomic on Redis, so every node counts one
    streak; in process otherwise). Pipelined and concurrent attempts are counted one by
    one: past the limit they are refused before they are hashed.

    Counted per e-mail, known or not, so being throttled says nothing about whether
    the account exists. Locking out is bounded in time, so an attacker can slow a user
    down but never lock them out for good. E-mails are keyed by their SHA-256, so the
    KV holds no addresses.
    """

    def __init__(self, kv: KV, policy: AttemptPolicy, clock: Callable[[], float]) -> None:
        self.kv = kv
        self.policy = policy
        self.clock = clock

    @staticmethod
    def key(email: str) -> str:
        return "login:" + hashlib.sha256(email.encode()).hexdigest()

    async def admit(self, email: str) -> None:
        """Count this attempt, or raise `Overloaded` (with the lock's time left)."""
        admission = await self.kv.count_attempt(self.key(email), self.policy, int(self.clock() * 1000))
        if not admission.admitted:
            raise Overloaded("Too many failed logins, retry later", retry_after=admission.retry_after)
        lock = self.policy.lock_ms(admission.attempts)
        if lock:
            log.warning("logins for an e-mail locked for %.0f s after %d attempts", lock / 1000,
                        admission.attempts, extra={"event": "tokens.login_throttled", "attempts": admission.attempts})

    async def succeeded(self, email: str) -> None:
        """End the e-mail's streak (and any lock)."""
        await self.kv.clear_attempts(self.key(email))
