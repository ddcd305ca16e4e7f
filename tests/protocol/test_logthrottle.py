"""Rate-limited log lines with plain numbers."""

from __future__ import annotations

from protocol.logthrottle import LogThrottle


def test_a_few_lines_per_window_then_a_count_of_the_dropped() -> None:
    throttle = LogThrottle(per_window=3, window=10.0)
    assert [throttle.allow("a", 0.0) for _ in range(5)] == [0, 0, 0, None, None]
    assert throttle.allow("b", 1.0) == 0  # kinds are counted apart
    assert throttle.allow("a", 9.9) is None
    assert throttle.allow("a", 10.0) == 3  # the next window's first line says how many were left out
    assert throttle.allow("a", 10.1) == 0
