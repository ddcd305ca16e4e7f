"""The quota on what callers may make a node store, with values and a hand-moved clock."""

from __future__ import annotations

import gc
import math

from actors.quota import Quota, QuotaLimits


class Owner:
    """Stands for a connection."""


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_node_allows_a_burst_of_ten_seconds_then_its_rate() -> None:
    clock = Clock()
    quota = Quota(QuotaLimits(rate=2.0), clock)
    assert sum(quota.take() for _ in range(30)) == 20
    assert quota.refused == {"connection": 0, "node": 10}
    assert math.isclose(quota.retry_after(), 0.5)
    clock.now += 1.0
    assert [quota.take() for _ in range(3)] == [True, True, False]
    clock.now += 3600  # idle for an hour: a burst again, not an hour's worth
    assert sum(quota.take() for _ in range(100)) == 20


def test_each_connection_has_its_own_count_and_lets_it_go_when_closed() -> None:
    quota = Quota(QuotaLimits(rate=1000.0, per_connection=2), Clock())
    a, b = Owner(), Owner()
    assert [quota.take(a) for _ in range(3)] == [True, True, False]
    assert [quota.take(b) for _ in range(3)] == [True, True, False]
    assert quota.refused == {"connection": 2, "node": 0}
    del a
    gc.collect()
    assert len(quota._used) == 1  # noqa: SLF001 - a closed connection's count is not kept


def test_rate_zero_allows_nothing() -> None:
    quota = Quota(QuotaLimits(rate=0.0, per_connection=5), Clock())
    assert not quota.take(Owner()) and quota.retry_after() == math.inf
