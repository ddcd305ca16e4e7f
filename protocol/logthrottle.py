"""Rate-limited log lines, so that a flood of bad clients cannot flood the log.

`LogThrottle.allow(key, now)` lets `per_window` lines of one kind through per `window`
seconds; the first line after a quiet spell says how many were left out.
"""

from __future__ import annotations


class LogThrottle:
    __slots__ = ("per_window", "window", "_state")

    def __init__(self, per_window: int = 10, window: float = 10.0) -> None:
        self.per_window = per_window
        self.window = window
        self._state: dict[str, list[float]] = {}  # key -> [window start, lines logged, lines dropped]

    def allow(self, key: str, now: float) -> int | None:
        """None: don't log this one. Otherwise log it, mentioning the returned number of
        lines of this kind that were dropped before it (0 for none)."""
        state = self._state.get(key)
        if state is None or now - state[0] >= self.window:
            dropped = int(state[2]) if state is not None else 0
            self._state[key] = [now, 1, 0]
            return dropped
        if state[1] < self.per_window:
            state[1] += 1
            return 0
        state[2] += 1
        return None
