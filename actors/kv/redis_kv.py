"""The Redis KV: redis-py's asyncio client, run inside trio through trio-asyncio.

This is the only module that knows redis-py speaks asyncio. It needs a running
``trio_asyncio.open_loop()`` (captured when it opens).

While Redis is unreachable the KV is a circuit breaker: operations return at once
(a miss, or nothing done) instead of waiting on timeouts, and a monitor task probes
Redis with backoff until it answers. Each subscription reconnects and resubscribes
by itself. Both transitions are logged once.

Namespaced keys are stored as ``namespace:<generation>:rest``; the generation lives
in ``__gen__:namespace`` and small Lua scripts read it and the value in one round
trip. `delete_namespace` is one INCR. (The scripts touch keys they do not declare,
which is fine on a single Redis, not on Redis Cluster.)
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import redis.asyncio as aioredis
import redis.exceptions
import trio
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from actors.storage.aio import AsyncioBridge

from .attempts import Admission, AttemptPolicy, AttemptTable
from .backoff import Backoff
from .buffer import BufferedSubscription
from .port import NAMESPACED_DEFAULT_TTL, split_namespace

log = logging.getLogger("actors.kv")

_GET = """
local g = redis.call('GET', KEYS[1]) or '0'
return redis.call('GET', ARGV[1] .. ':' .. g .. ':' .. ARGV[2])
"""
_SET = """
local g = redis.call('GET', KEYS[1]) or '0'
redis.call('SET', ARGV[1] .. ':' .. g .. ':' .. ARGV[2], ARGV[3], 'PX', ARGV[4])
return 1
"""
_DELETE = """
local g = redis.call('GET', KEYS[1]) or '0'
local n = 0
for i = 2, #ARGV do
    n = n + redis.call('DEL', ARGV[1] .. ':' .. g .. ':' .. ARGV[i])
end
return n
"""

# `attempts.step` on a hash {n, first, until}, atomically. Lua numbers are doubles:
# exact for epoch milliseconds, and Redis writes them back with %.17g.
_COUNT_ATTEMPT = """
local now, limit, window = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local base, cap = tonumber(ARGV[4]), tonumber(ARGV[5])
local s = redis.call('HMGET', KEYS[1], 'n', 'first', 'until')
local n, first, locked = tonumber(s[1]), tonumber(s[2]), tonumber(s[3]) or 0
if n and locked > now then
    return {0, n, locked - now}
end
if not n or first + window <= now then
    n, first = 0, now
end
n = n + 1
locked = 0
if n >= limit then
    locked = now + math.min(cap, base * 2 ^ math.min(n - limit, 32))
end
redis.call('HSET', KEYS[1], 'n', n, 'first', first, 'until', locked)
redis.call('PEXPIRE', KEYS[1], math.max(first + window, locked) - now)
return {1, n, 0}
"""

# Errors that mean "Redis cannot be reached", as opposed to a bad command.
_OUTAGE = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)

_LISTEN_SLICE = 5.0  # seconds one get_message crossing waits for a message


def _generation_key(namespace: str) -> str:
    return f"__gen__:{namespace}"


def _attempts_key(key: str) -> str:
    return f"__attempts__:{key}"


# asyncio side ----------------------------------------------------------------


async def _make_client(url: str, pool_size: int, timeout: float) -> aioredis.Redis:
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=pool_size,
        timeout=timeout,  # waiting for a free connection
        socket_connect_timeout=timeout,
        socket_timeout=max(timeout, _LISTEN_SLICE + 1),
        # One immediate retry on a fresh connection absorbs the stale pooled
        # connections a Redis restart leaves; more would only delay the miss.
        retry=Retry(NoBackoff(), 1),
        health_check_interval=10,
    )
    return aioredis.Redis.from_pool(pool)


# trio side --------------------------------------------------------------------


class RedisKV:
    """The `KV` port on Redis. Build it with `open_redis_kv` inside a nursery."""

    def __init__(
        self,
        client: aioredis.Redis,
        bridge: AsyncioBridge,
        nursery: trio.Nursery,
        *,
        timeout: float,
        buffer_size: int,
        probe_interval: float,
    ) -> None:
        self._client = client
        self._invoke = bridge.call
        self._nursery = nursery
        self._timeout = timeout
        self._buffer_size = buffer_size
        self._probe_interval = probe_interval
        self._get_script = client.register_script(_GET)
        self._set_script = client.register_script(_SET)
        self._delete_script = client.register_script(_DELETE)
        self._count_attempt_script = client.register_script(_COUNT_ATTEMPT)
        # Counts attempts while Redis is down: per node until it is back.
        self._local_attempts = AttemptTable()
        self.healthy = True
        self.outages = 0
        self.skipped = 0  # operations not attempted because Redis was down
        self._down_since = 0.0
        self._became_unhealthy = trio.Event()
        self._became_healthy = trio.Event()
        self._became_healthy.set()
        self._subscriptions: set[BufferedSubscription] = set()
        self._dropped_by_closed = 0

    # health -------------------------------------------------------------------

    def _mark_down(self, reason: object) -> None:
        if not self.healthy:
            return
        self.healthy = False
        self.outages += 1
        self._down_since = time.monotonic()
        self._became_healthy = trio.Event()
        self._became_unhealthy.set()
        log.warning(
            "redis unreachable (%s): serving without shared cache and pub/sub until it is back",
            reason or type(reason).__name__,
        )

    def _mark_up(self) -> None:
        if self.healthy:
            return
        self.healthy = True
        self._became_unhealthy = trio.Event()
        self._became_healthy.set()
        log.info("redis reconnected after %.1fs", time.monotonic() - self._down_since)

    async def wait_healthy(self) -> None:
        await self._became_healthy.wait()

    async def _ping(self) -> bool:
        try:
            with trio.fail_after(self._timeout):
                await self._invoke(self._client.ping)
            return True
        except trio.TooSlowError:
            self._mark_down("ping timed out")
        except _OUTAGE as exc:
            self._mark_down(exc)
        except redis.exceptions.RedisError as exc:
            self._mark_down(exc)  # e.g. LOADING after a restart: not usable yet
        return False

    async def run_monitor(self) -> None:
        """Probe Redis: every ``probe_interval`` while healthy (so an idle node
        notices an outage too), with backoff while not."""
        backoff = Backoff(initial=0.05, cap=1.0)
        while True:
            if self.healthy:
                with trio.move_on_after(self._probe_interval):
                    await self._became_unhealthy.wait()
                if self.healthy:
                    await self._ping()
                continue
            if await self._ping():
                self._mark_up()
                backoff.reset()
                continue
            await trio.sleep(backoff.next())

    # operations -----------------------------------------------------------------

    async def _attempt(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> tuple[bool, Any]:
        """(True, result), or (False, None) when Redis is down or the call failed."""
        if not self.healthy:
            self.skipped += 1
            await trio.lowlevel.checkpoint()
            return False, None
        try:
            with trio.fail_after(self._timeout):
                return True, await self._invoke(fn, *args, **kwargs)
        except trio.TooSlowError:
            self._mark_down(f"{what} timed out after {self._timeout}s")
        except _OUTAGE as exc:
            self._mark_down(exc)
        except redis.exceptions.RedisError as exc:
            log.error("redis %s failed: %s", what, exc)
        return False, None

    async def get(self, key: str) -> bytes | None:
        parts = split_namespace(key)
        if parts is None:
            _, value = await self._attempt("get", self._client.get, key)
        else:
            namespace, rest = parts
            _, value = await self._attempt(
                "get",
                self._get_script,
                keys=[_generation_key(namespace)],
                args=[namespace, rest],
            )
        return value

    async def set(self, key: str, value: bytes, *, ttl: float | None = None) -> None:
        parts = split_namespace(key)
        if parts is None:
            px = None if ttl is None else max(1, int(ttl * 1000))
            await self._attempt("set", self._client.set, key, value, px=px)
            return
        namespace, rest = parts
        ttl = NAMESPACED_DEFAULT_TTL if ttl is None else ttl
        await self._attempt(
            "set",
            self._set_script,
            keys=[_generation_key(namespace)],
            args=[namespace, rest, value, max(1, int(ttl * 1000))],
        )

    async def delete(self, *keys: str) -> None:
        plain: list[str] = []
        by_namespace: dict[str, list[str]] = {}
        for key in keys:
            parts = split_namespace(key)
            if parts is None:
                plain.append(key)
            else:
                by_namespace.setdefault(parts[0], []).append(parts[1])
        if plain:
            await self._attempt("delete", self._client.delete, *plain)
        for namespace, rests in by_namespace.items():
            await self._attempt(
                "delete",
                self._delete_script,
                keys=[_generation_key(namespace)],
                args=[namespace, *rests],
            )

    async def delete_namespace(self, namespace: str) -> None:
        await self._attempt("delete_namespace", self._client.incr, _generation_key(namespace))

    async def publish(self, channel: str, message: bytes) -> None:
        await self._attempt("publish", self._client.publish, channel, message)

    async def count_attempt(self, key: str, policy: AttemptPolicy, now_ms: int) -> Admission:
        ok, answer = await self._attempt(
            "count_attempt",
            self._count_attempt_script,
            keys=[_attempts_key(key)],
            args=[now_ms, policy.limit, int(policy.window * 1000),
                  int(policy.base_lock * 1000), int(policy.max_lock * 1000)],
        )
        if not ok:
            return self._local_attempts.admit(key, policy, now_ms)
        admitted, count, wait_ms = (int(v) for v in answer)
        return Admission(bool(admitted), count, wait_ms / 1000)

    async def clear_attempts(self, key: str) -> None:
        self._local_attempts.clear(key)
        await self._attempt("clear_attempts", self._client.delete, _attempts_key(key))

    # pub/sub ----------------------------------------------------------------------

    @asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[BufferedSubscription]:
        subscription = BufferedSubscription(self._buffer_size, connected=False)
        scope = trio.CancelScope()
        self._subscriptions.add(subscription)
        try:
            await self._nursery.start(self._run_subscription, channel, subscription, scope)
            yield subscription
        finally:
            scope.cancel()
            self._subscriptions.discard(subscription)
            self._dropped_by_closed += subscription.dropped
            subscription.buffer.close()

    async def _run_subscription(
        self,
        channel: str,
        subscription: BufferedSubscription,
        scope: trio.CancelScope,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Keep one pubsub connection subscribed to ``channel``, reconnecting with
        backoff. Reports started after the first attempt, successful or not, so a
        node starts while Redis is down."""
        backoff = Backoff(initial=0.05, cap=2.0)
        started = False
        with scope:
            while True:
                pubsub = self._client.pubsub()
                try:
                    with trio.fail_after(self._timeout):
                        await self._invoke(pubsub.subscribe, channel)
                        while True:  # the confirmation: from here on, nothing is missed
                            message = await self._invoke(pubsub.get_message, timeout=self._timeout)
                            if message is not None and message["type"] == "subscribe":
                                break
                    if started:
                        subscription.reconnects += 1
                        log.info("redis reconnected: resubscribed to %r", channel)
                    subscription.set_connected(True)
                    if not started:
                        started = True
                        task_status.started()
                    backoff.reset()
                    while True:
                        message = await self._invoke(
                            pubsub.get_message, ignore_subscribe_messages=True, timeout=_LISTEN_SLICE
                        )
                        if message is not None and message["type"] == "message":
                            subscription.buffer.put(message["data"])
                except trio.TooSlowError:
                    self._mark_down(f"subscribing to {channel!r} timed out")
                except _OUTAGE as exc:
                    self._mark_down(exc)
                except redis.exceptions.RedisError as exc:
                    log.error("redis subscription to %r failed: %s", channel, exc)
                finally:
                    subscription.set_connected(False)
                    with trio.CancelScope(shield=True), trio.move_on_after(self._timeout):
                        try:
                            await self._invoke(pubsub.aclose)
                        except Exception:
                            pass  # the connection is being dropped anyway
                if not started:
                    started = True
                    task_status.started()
                await trio.sleep(backoff.next())

    @property
    def dropped_messages(self) -> int:
        """Messages dropped by slow subscribers since start."""
        return self._dropped_by_closed + sum(s.dropped for s in self._subscriptions)

    async def aclose(self) -> None:
        with trio.CancelScope(shield=True), trio.move_on_after(self._timeout):
            try:
                await self._invoke(self._client.aclose)
            except Exception:
                pass


async def open_redis_kv(
    url: str,
    nursery: trio.Nursery,
    *,
    timeout: float = 1.0,
    pool_size: int = 16,
    buffer_size: int = 1000,
    probe_interval: float = 1.0,
) -> RedisKV:
    """A `RedisKV` whose background tasks run in ``nursery``. Does not fail when
    Redis is down: the KV starts unhealthy and recovers when Redis answers."""
    bridge = AsyncioBridge.current("the Redis KV")
    client = await bridge.call(_make_client, url, pool_size, timeout)
    kv = RedisKV(
        client,
        bridge,
        nursery,
        timeout=timeout,
        buffer_size=buffer_size,
        probe_interval=probe_interval,
    )
    await kv._ping()
    nursery.start_soon(kv.run_monitor)
    return kv
