"""The token bucket with plain numbers."""

from __future__ import annotations

import pytest

from protocol import errors
from protocol.ratelimit import TokenBucket


def test_a_burst_then_the_rate() -> None:
    bucket = TokenBucket(rate=10, burst=20, now=0.0)
    assert all(bucket.take(0.0) == 0.0 for _ in range(20))
    assert bucket.take(0.0) == pytest.approx(0.1)  # one token comes every 0.1 s
    assert bucket.take(0.1) == 0.0
    assert bucket.take(0.1) == pytest.approx(0.1)


def test_a_batch_costs_its_members_and_refusal_takes_nothing() -> None:
    bucket = TokenBucket(rate=10, burst=100, now=0.0)
    assert bucket.take(0.0, 60) == 0.0
    assert bucket.take(0.0, 60) == pytest.approx(2.0)  # 40 left: 20 more need 2 s
    assert bucket.take(0.0, 40) == 0.0  # the refused batch took nothing


def test_refills_up_to_the_burst_only() -> None:
    bucket = TokenBucket(rate=100, burst=5, now=0.0)
    assert bucket.take(1000.0, 5) == 0.0
    assert bucket.take(1000.0) > 0


def test_a_cost_above_the_burst_is_admitted_by_a_full_bucket() -> None:
    bucket = TokenBucket(rate=10, burst=5, now=0.0)
    assert bucket.take(0.0, 10) == 0.0  # full: admitted, and now empty
    assert bucket.take(0.0, 10) == pytest.approx(0.5)  # until full again


def test_rate_zero_admits_everything() -> None:
    bucket = TokenBucket(rate=0, burst=1, now=0.0)
    assert all(bucket.take(0.0, 100) == 0.0 for _ in range(1000))
    with pytest.raises(ValueError):
        TokenBucket(rate=-1, burst=1, now=0.0)


@pytest.mark.parametrize("wait, told", [(0.4994, 0.5), (0.4990, 0.499), (0.3, 0.3), (1.0, 1.0), (0.0, 0.001),
                                        (2.0000001, 2.001)])
def test_retry_after_is_never_earlier_than_the_wait(wait: float, told: float) -> None:
    # A client that waits exactly retry_after must find its token there.
    assert errors.retry_after(wait) == {"retry_after": told}
    assert told >= wait
