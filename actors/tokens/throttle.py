"""How repeated login failures for one e-mail are slowed down."""

from __future__ import annotations

import attrs


@attrs.frozen
class ThrottlePolicy:
    """After `max_failures` consecutive failures within `window` seconds, logins for
    that e-mail are refused (-32006) for `base_lock` seconds, doubling with each
    further failure up to `max_lock`. A success clears the streak.

    Counted per e-mail, known or not, so being throttled says nothing about whether
    the account exists. Locking out is bounded in time, so an attacker can slow a
    user down but never lock them out for good.
    """

    max_failures: int = attrs.field(default=5, validator=attrs.validators.ge(1))
    window: float = attrs.field(default=900.0, validator=attrs.validators.gt(0))
    base_lock: float = attrs.field(default=30.0, validator=attrs.validators.gt(0))
    max_lock: float = attrs.field(default=900.0, validator=attrs.validators.gt(0))

    def lock_for(self, failures: int) -> float:
        """Seconds to refuse logins after `failures` consecutive failures (0: none)."""
        if failures < self.max_failures:
            return 0.0
        excess = min(failures - self.max_failures, 32)
        return min(self.max_lock, self.base_lock * (2 ** excess))
