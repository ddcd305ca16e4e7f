"""Attempt counters with an escalating lock: the pure step (values), the bounded
in-process table, and the KV contract on the in-process KV and on Redis (atomic under
concurrency, one streak for every node, per node while Redis is down)."""

from __future__ import annotations

import secrets

import pytest
import trio

from actors.kv import KV, Admission, AttemptPolicy, connect_kv
from actors.kv.attempts import Attempts, AttemptTable, step
from tests.services import RedisServer, aio_loop, kv, redis_server, redis_url  # noqa: F401

POLICY = AttemptPolicy(limit=3, window=60, base_lock=10, max_lock=35)
T0 = 1_800_000_000_000  # epoch ms


def run(times: list[float], policy: AttemptPolicy = POLICY) -> list[Admission]:
    """Attempts at `times` (seconds after T0) through `step`."""
    state: Attempts | None = None
    answers = []
    for t in times:
        state, answer = step(state, T0 + int(t * 1000), policy)
        answers.append(answer)
    return answers


def test_the_attempt_reaching_the_limit_is_admitted_and_locks() -> None:
    answers = run([0, 1, 2, 3, 11.9])
    assert [a.admitted for a in answers] == [True, True, True, False, False]
    assert [a.attempts for a in answers] == [1, 2, 3, 3, 3]
    assert answers[3].retry_after == 9.0 and answers[4].retry_after == pytest.approx(0.1)


def test_each_attempt_admitted_after_a_lock_doubles_it_up_to_the_cap() -> None:
    # Locks: 10 s after the 3rd, 20 s after the 4th, 35 (not 40) after the 5th.
    answers = run([0, 0, 0, 10, 10, 30, 30, 50])
    assert [(a.admitted, a.attempts, a.retry_after) for a in answers] == [
        (True, 1, 0), (True, 2, 0), (True, 3, 0), (True, 4, 0), (False, 4, 20.0),
        (True, 5, 0), (False, 5, 35.0), (False, 5, 15.0)]


def test_a_streak_ends_with_its_window_unless_locked() -> None:
    assert [a.attempts for a in run([0, 1, 60, 61])] == [1, 2, 1, 2]
    # Locked past the window's end: refused until the lock ends, then a new streak.
    answers = run([0, 0, 55, 60, 64.9, 65], AttemptPolicy(limit=3, window=60, base_lock=10))
    assert [(a.admitted, a.attempts) for a in answers] == [
        (True, 1), (True, 2), (True, 3), (False, 3), (False, 3), (True, 1)]


def test_policy_values_are_checked() -> None:
    for bad in ({"limit": 0}, {"limit": 1.5}, {"window": 0}, {"base_lock": -1}, {"max_lock": float("inf")}):
        with pytest.raises((ValueError, TypeError)):
            AttemptPolicy(**bad)  # type: ignore[arg-type]


def test_the_table_forgets_ended_streaks_and_evicts_unlocked_keys_first() -> None:
    table = AttemptTable(max_entries=4)
    for _ in range(3):
        table.admit("victim", POLICY, T0)  # locked for 10 s
    for n in range(10):
        table.admit(f"flood{n}", POLICY, T0 + n)
    assert len(table) == 4
    assert not table.admit("victim", POLICY, T0 + 100).admitted
    table.clear("victim")
    assert table.admit("victim", POLICY, T0 + 200).attempts == 1
    # Every streak over: the next attempt finds only itself.
    table.admit("late", POLICY, T0 + 3_600_000)
    assert len(table) == 1


@pytest.fixture
def key() -> str:
    return f"login:{secrets.token_hex(8)}"


async def test_concurrent_attempts_are_counted_one_by_one(kv: KV, key: str) -> None:
    answers: list[Admission] = []

    async def attempt() -> None:
        answers.append(await kv.count_attempt(key, POLICY, T0))

    async with trio.open_nursery() as nursery:
        for _ in range(32):
            nursery.start_soon(attempt)
    assert sorted(a.attempts for a in answers if a.admitted) == [1, 2, 3]
    assert [a.retry_after for a in answers if not a.admitted] == [10.0] * 29
    await kv.clear_attempts(key)
    assert (await kv.count_attempt(key, POLICY, T0 + 1)).attempts == 1


async def test_the_kv_runs_the_same_steps_as_the_pure_step(kv: KV, key: str) -> None:
    times = [0, 0, 0, 10, 10, 30, 30, 50, 200]
    expected = run(times)
    got = [await kv.count_attempt(key, POLICY, T0 + int(t * 1000)) for t in times]
    assert got == expected


async def test_nodes_sharing_redis_count_one_streak(aio_loop: object, redis_url: str, key: str) -> None:
    async with connect_kv(redis_url) as a, connect_kv(redis_url) as b:
        answers = [await node.count_attempt(key, POLICY, T0) for node in (a, b, a, b)]
        assert [(x.admitted, x.attempts) for x in answers] == [(True, 1), (True, 2), (True, 3), (False, 3)]
        await a.clear_attempts(key)
        assert (await b.count_attempt(key, POLICY, T0)).attempts == 1


async def test_attempts_expire_on_redis(aio_loop: object, redis_url: str, key: str) -> None:
    import redis

    async with connect_kv(redis_url) as kv:
        await kv.count_attempt(key, POLICY, T0)
    ttl = redis.Redis.from_url(redis_url).pttl(f"__attempts__:{key}")
    assert 59_000 < ttl <= 60_000


async def test_while_redis_is_down_each_node_counts_on_its_own(
        aio_loop: object, redis_server: RedisServer, key: str) -> None:
    async with connect_kv(redis_server.url, timeout=0.5) as kv:
        assert (await kv.count_attempt(key, POLICY, T0)).attempts == 1
        redis_server.stop()
        with trio.fail_after(5):
            local = [await kv.count_attempt(key, POLICY, T0) for _ in range(4)]
        assert [(a.admitted, a.attempts) for a in local] == [(True, 1), (True, 2), (True, 3), (False, 3)]
        await kv.clear_attempts(key)  # does not raise
        redis_server.start()
        with trio.fail_after(10):
            await kv.wait_healthy()
        # Redis kept nothing (a fresh server); counting is shared again.
        assert (await kv.count_attempt(key, POLICY, T0)).attempts == 1
