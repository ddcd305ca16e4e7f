"""Redis going away and coming back, on a throwaway redis-server of the test's own."""

from __future__ import annotations

import logging
import time

import pytest
import trio

from actors.kv import connect_kv

from tests.services import RedisServer, free_port
from tests.storage.helpers import eventually


async def test_redis_restart_is_survived(
    aio_loop: object, redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="actors.kv")
    async with (
        connect_kv(redis_server.url, timeout=0.5) as listener,
        connect_kv(redis_server.url, timeout=0.5) as speaker,
        listener.subscribe("events") as messages,
    ):
        await speaker.publish("events", b"before")
        with trio.fail_after(5):
            assert await messages.__anext__() == b"before"
        await speaker.set("c:key", b"cached")

        redis_server.stop()
        started = time.monotonic()
        # The cache misses and the writes are dropped, without raising.
        assert await speaker.get("c:key") is None
        await speaker.set("c:key", b"lost")
        await speaker.delete("c:key")
        await speaker.publish("events", b"lost")
        assert await speaker.get("c:key") is None
        assert time.monotonic() - started < 1.5
        assert not speaker.healthy
        await eventually(lambda: not listener.healthy and not messages.connected)
        assert caplog.text.count("redis unreachable") == 2  # once per node

        redis_server.start()
        with trio.fail_after(10):
            await speaker.wait_healthy()
            await listener.wait_healthy()
            await messages.wait_connected()
        await speaker.publish("events", b"after")
        with trio.fail_after(5):
            assert await messages.__anext__() == b"after"
        assert messages.reconnects == 1
        await speaker.set("c:key", b"fresh")
        assert await speaker.get("c:key") == b"fresh"
        assert "redis reconnected" in caplog.text
        assert speaker.outages == listener.outages == 1


async def test_start_while_redis_is_down(aio_loop: object) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    with trio.fail_after(5):
        async with connect_kv(url, timeout=0.5) as kv, kv.subscribe("events") as messages:
            assert not kv.healthy
            assert not messages.connected
            assert await kv.get("c:key") is None
            await kv.set("c:key", b"v")
            await kv.publish("events", b"m")
