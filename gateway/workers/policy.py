"""When a crashed worker process is started again, and when the main process gives up:
OTP's restart intensity (more than `max_restarts` restarts within `period` seconds and
the supervisor gives up) with what OTP lacks, a backoff with jitter before each restart."""

from __future__ import annotations

import random
from collections import deque

import attrs

from runtime import backoff_delay


@attrs.frozen
class RestartPolicy:
    max_restarts: int = 5
    """Restarts allowed within `period`; one more crash in that window gives up."""
    period: float = 60.0
    backoff_base: float = 0.5
    """The delay before the n-th restart within `period` is uniform in
    [0, min(backoff_max, backoff_base * 2**(n-1))] seconds."""
    backoff_max: float = 10.0


class Restarts:
    """The restarts of one worker slot, as the policy counts them."""

    def __init__(self, policy: RestartPolicy, rng: random.Random | None = None) -> None:
        self.policy = policy
        self.total = 0
        self._times: deque[float] = deque()
        self._rng = rng or random.Random()

    def crashed(self, now: float) -> float | None:
        """A crash at `now`: the delay before restarting, or None past the intensity."""
        policy = self.policy
        while self._times and self._times[0] <= now - policy.period:
            self._times.popleft()
        if len(self._times) >= policy.max_restarts:
            return None
        self._times.append(now)
        self.total += 1
        return backoff_delay(len(self._times), policy.backoff_base, policy.backoff_max, self._rng)

    def recent(self) -> int:
        """Restarts within the last period (as of the last crash)."""
        return len(self._times)
