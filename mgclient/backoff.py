"""How long to wait between reconnection attempts: policy as data."""

from __future__ import annotations

import random
from collections.abc import Iterator

import attrs


@attrs.frozen
class Backoff:
    """Exponential back-off with full jitter: attempt n waits a random time between
    `(1 - jitter)` and 1 times `min(maximum, initial * factor**n)`; `attempts` tries in
    all (None: forever)."""

    initial: float = 0.2
    factor: float = 2.0
    maximum: float = 15.0
    jitter: float = 0.5
    attempts: int | None = 12

    def delays(self, rng: random.Random | None = None) -> Iterator[float]:
        """The waits before each retry, in order (`attempts - 1` of them, or endless)."""
        pick = (rng or random).uniform
        n = 0
        while self.attempts is None or n < self.attempts - 1:
            ceiling = min(self.maximum, self.initial * self.factor ** n)
            yield pick(ceiling * (1 - self.jitter), ceiling)
            n += 1
