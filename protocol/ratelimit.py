"""A token bucket: the per-connection request rate limit, without I/O or clocks.

A connection may send `burst` requests at once and `rate` per second after that. The
caller passes the time, so the bucket is tested with plain numbers.
"""

from __future__ import annotations


class TokenBucket:
    """`take(now, cost)` admits `cost` requests (a batch costs its members) or says how
    long to wait. A rate of 0 admits everything."""

    __slots__ = ("rate", "burst", "tokens", "stamp")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        if rate < 0 or (rate and burst < 1):
            raise ValueError("rate must be >= 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self.stamp = now

    def take(self, now: float, cost: int = 1) -> float:
        """0.0 when admitted (the tokens are taken), else the seconds until `cost`
        tokens will be there. A cost above the burst is admitted by a full bucket (and empties it)."""
        rate = self.rate
        if not rate:
            return 0.0
        tokens = self.tokens + (now - self.stamp) * rate
        if tokens > self.burst:
            tokens = self.burst
        self.stamp = now
        need = cost if cost <= self.burst else self.burst
        if tokens >= need:
            self.tokens = tokens - need
            return 0.0
        self.tokens = tokens
        return (need - tokens) / rate
