"""Cache and pub/sub behind one interface: Redis when a URL is given, else an
in-process implementation for a single node.

    async with connect_kv(redis_url) as kv:
        await kv.set("ac:star", payload, ttl=30)
        await kv.delete_namespace("ac")            # every "ac:..." key, O(1)
        async with kv.subscribe("revocations") as messages:
            async for message in messages: ...

Attempt counters with an escalating lock (`count_attempt`, see `attempts`) are atomic
on Redis, so every node counts one streak.

Redis needs a running ``trio_asyncio.open_loop()`` around the program. See `port`
for the failure model (nothing raises during a Redis outage).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio

from .attempts import Admission, AttemptPolicy
from .memory import MemoryKV
from .port import KV, NAMESPACED_DEFAULT_TTL, Subscription, split_namespace

__all__ = [
    "KV",
    "NAMESPACED_DEFAULT_TTL",
    "Admission",
    "AttemptPolicy",
    "MemoryKV",
    "Subscription",
    "connect_kv",
    "split_namespace",
]


@asynccontextmanager
async def connect_kv(
    redis_url: str | None,
    *,
    timeout: float = 1.0,
    pool_size: int = 16,
    buffer_size: int = 1000,
    max_entries: int = 100_000,
    probe_interval: float = 1.0,
) -> AsyncIterator[KV]:
    """The KV for ``redis_url``, or the in-process one when it is None or empty.

    ``timeout`` bounds each Redis operation; ``pool_size`` bounds Redis connections
    (each subscription holds one more); ``buffer_size`` bounds each subscription's
    unread messages; ``max_entries`` bounds the in-process cache. Opening does not
    fail when Redis is down: the KV starts unhealthy and recovers by itself.
    """
    if not redis_url:
        yield MemoryKV(max_entries=max_entries, buffer_size=buffer_size)
        return
    from .redis_kv import open_redis_kv

    try:
        async with trio.open_nursery() as nursery:
            kv = await open_redis_kv(
                redis_url,
                nursery,
                timeout=timeout,
                pool_size=pool_size,
                buffer_size=buffer_size,
                probe_interval=probe_interval,
            )
            try:
                yield kv
            finally:
                nursery.cancel_scope.cancel()
                await kv.aclose()
    except BaseExceptionGroup as group:
        # The background tasks never raise, so a group holds the body's own
        # exception: give it back as the caller raised it.
        if len(group.exceptions) == 1:
            raise group.exceptions[0] from None
        raise
