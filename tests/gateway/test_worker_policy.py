"""The restart policy of `serve --workers N` as values: intensity, period, backoff."""

from __future__ import annotations

import random

from gateway.workers import RestartPolicy, Restarts


def test_more_than_max_restarts_within_the_period_gives_up() -> None:
    restarts = Restarts(RestartPolicy(max_restarts=2, period=10.0), random.Random(1))
    assert restarts.crashed(0.0) is not None
    assert restarts.crashed(1.0) is not None
    assert restarts.crashed(2.0) is None
    assert restarts.total == 2


def test_crashes_older_than_the_period_no_longer_count() -> None:
    restarts = Restarts(RestartPolicy(max_restarts=2, period=10.0), random.Random(1))
    for t in (0.0, 5.0, 10.5, 16.0, 21.0, 26.5):  # never three within 10 s
        assert restarts.crashed(t) is not None, t
    assert restarts.total == 6
    assert restarts.crashed(27.0) is None  # after 21 and 26.5, a third restart within 10 s


def test_zero_restarts_gives_up_at_the_first_crash() -> None:
    assert Restarts(RestartPolicy(max_restarts=0)).crashed(0.0) is None


def test_the_backoff_doubles_up_to_its_cap_with_jitter() -> None:
    policy = RestartPolicy(max_restarts=1000, period=1e9, backoff_base=0.5, backoff_max=4.0)
    restarts = Restarts(policy, random.Random(7))
    delays = []
    for t in range(200):
        delay = restarts.crashed(float(t))
        assert delay is not None
        delays.append(delay)
    assert 0.0 <= delays[0] <= 0.5
    assert all(0.0 <= d <= 4.0 for d in delays)
    assert max(delays[10:]) > 2.0  # the cap is reached, not only the base
    assert len(set(delays)) > 190  # jittered: workers crashing together do not restart in step
