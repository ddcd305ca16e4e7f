"""Restart delays: exponential backoff with full jitter."""

from __future__ import annotations

import random


def backoff_cap(attempt: int, base: float, maximum: float) -> float:
    """Upper bound of the delay before restart number `attempt` (1-based)."""
    if attempt < 1:
        return 0.0
    # Cap the exponent so huge attempt counts cannot overflow.
    return min(maximum, base * 2.0 ** min(attempt - 1, 64))


def backoff_delay(attempt: int, base: float, maximum: float, rng: random.Random) -> float:
    """Full jitter: uniform in [0, cap] (AWS architecture blog, "Exponential Backoff
    And Jitter"), so children crashing together do not restart in lockstep."""
    return rng.uniform(0.0, backoff_cap(attempt, base, maximum))
