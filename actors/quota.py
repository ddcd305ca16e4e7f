"""Quotas on what callers may make a node store: per connection, and per node as a
token bucket (a rate after a burst of ten seconds' worth).

`Quota.take(owner)` says whether one more may go ahead for `owner` (a connection, or any
object standing for one: held weakly, so a closed connection's count goes with it), and
counts it. Used for the first assignments of callers the gateway cannot vouch for
(actors/experiments) and for new accounts (actors/tokens).
"""

from __future__ import annotations

import math
import time
import weakref
from collections.abc import Callable

import attrs

__all__ = ["Quota", "QuotaLimits"]


@attrs.frozen
class QuotaLimits:
    """`rate`: per second on the node, after a burst of ten seconds' worth (0: none at
    all); `per_connection`: at most this many for one owner (None: no such limit)."""

    rate: float = attrs.field(validator=attrs.validators.ge(0))
    per_connection: int | None = None

    @property
    def burst(self) -> float:
        return self.rate * 10


class Quota:
    """See the module docstring. `refused` counts the refusals by the limit that made
    them ("connection" or "node"), for /metrics."""

    def __init__(self, limits: QuotaLimits, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self._clock = clock
        self._tokens = limits.burst
        self._at = clock()
        self._used: weakref.WeakKeyDictionary[object, int] = weakref.WeakKeyDictionary()
        self.refused = {"connection": 0, "node": 0}

    def take(self, owner: object = None) -> bool:
        limit = self.limits.per_connection
        counted = owner is not None and limit is not None
        used = self._used.get(owner, 0) if counted else 0
        if counted and used >= limit:  # type: ignore[operator]
            self.refused["connection"] += 1
            return False
        now = self._clock()
        self._tokens = min(self.limits.burst, self._tokens + (now - self._at) * self.limits.rate)
        self._at = now
        if self._tokens < 1:
            self.refused["node"] += 1
            return False
        self._tokens -= 1
        if counted:
            self._used[owner] = used + 1
        return True

    def retry_after(self) -> float:
        """Seconds until the node's bucket allows one more (inf at rate 0)."""
        if self.limits.rate <= 0:
            return math.inf
        return max(0.0, (1 - self._tokens) / self.limits.rate)
