"""The in-memory set of revoked token families, kept small by forgetting what no
longer matters.

An access token lives at most `access_ttl` seconds. Once that long has passed since a
family was revoked, every access token of that family has expired (and its refresh
tokens are refused by the database), so the entry can go: the set holds only the
revocations of the last `access_ttl + skew` seconds, whatever the uptime.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable

__all__ = ["RevokedFamilies"]


class RevokedFamilies:
    """Families revoked within the last `access_ttl + skew` seconds.

    `skew` covers clock differences between nodes and the leeway the token codec
    allows on `exp`; it must be at least that leeway. Membership is a dict lookup; an
    entry is forgotten only by `prune` (and `add` prunes as it goes), never to make
    room, since forgetting a live revocation would let its tokens in again.
    """

    def __init__(
        self,
        access_ttl: float,
        clock: Callable[[], float] = time.time,
        *,
        skew: float = 30.0,
    ) -> None:
        if access_ttl <= 0:
            raise ValueError("access_ttl must be positive")
        if skew < 0:
            raise ValueError("skew must not be negative")
        self._keep_for = access_ttl + skew
        self._clock = clock
        self._revoked_at: dict[str, float] = {}
        # (forget_after, family_id); stale pairs (the family was re-added later) are
        # skipped when popped.
        self._expiry: list[tuple[float, str]] = []

    def add(self, family_id: str, revoked_at: float | None = None) -> bool:
        """Record a revocation (default: now). Returns False, and keeps nothing, if it
        is already too old to matter (e.g. an old row loaded at start-up)."""
        now = self._clock()
        if revoked_at is None:
            revoked_at = now
        self.prune(now)
        forget_after = revoked_at + self._keep_for
        if forget_after <= now:
            return False
        previous = self._revoked_at.get(family_id)
        if previous is not None and previous >= revoked_at:
            return True
        self._revoked_at[family_id] = revoked_at
        heapq.heappush(self._expiry, (forget_after, family_id))
        return True

    def __contains__(self, family_id: object) -> bool:
        return family_id in self._revoked_at

    def __len__(self) -> int:
        return len(self._revoked_at)

    @property
    def size(self) -> int:
        """How many families are held."""
        return len(self._revoked_at)

    def revoked_at(self, family_id: str) -> float | None:
        return self._revoked_at.get(family_id)

    def prune(self, now: float | None = None) -> int:
        """Forget revocations older than `access_ttl + skew`; return how many went."""
        if now is None:
            now = self._clock()
        expiry, revoked = self._expiry, self._revoked_at
        removed = 0
        while expiry and expiry[0][0] <= now:
            forget_after, family_id = heapq.heappop(expiry)
            at = revoked.get(family_id)
            if at is not None and at + self._keep_for == forget_after:
                del revoked[family_id]
                removed += 1
        return removed
