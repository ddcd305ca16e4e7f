"""Exponential backoff with full jitter, for reconnect loops."""

from __future__ import annotations

import random


class Backoff:
    """Delays growing from ``initial`` to ``cap`` (doubling), each drawn uniformly
    from [delay/2, delay] so that nodes that lost Redis together do not retry in step."""

    def __init__(self, initial: float = 0.05, cap: float = 2.0) -> None:
        self._initial = initial
        self._cap = cap
        self._delay = initial

    def next(self) -> float:
        delay = self._delay
        self._delay = min(self._cap, self._delay * 2)
        return random.uniform(delay / 2, delay)

    def reset(self) -> None:
        self._delay = self._initial
