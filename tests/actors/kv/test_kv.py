"""The KV contract, run against the in-process implementation and Redis."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import pytest
import trio

from actors.kv import KV, MemoryKV, connect_kv


@pytest.fixture(params=["memory", "redis"])
async def kv(request: pytest.FixtureRequest, aio_loop: object) -> AsyncIterator[KV]:
    if request.param == "memory":
        async with connect_kv(None) as kv:
            yield kv
        return
    url = request.getfixturevalue("redis_url")
    async with connect_kv(url, timeout=1.0) as kv:
        yield kv


@pytest.fixture
def ns() -> str:
    """A namespace no other test (or run) uses, on the shared Redis."""
    return f"t{secrets.token_hex(4)}"


async def test_get_set_delete(kv: KV, ns: str) -> None:
    assert await kv.get(f"{ns}:a") is None
    await kv.set(f"{ns}:a", b"1")
    await kv.set(f"{ns}:b", b"\x00binary\xff")
    assert await kv.get(f"{ns}:a") == b"1"
    assert await kv.get(f"{ns}:b") == b"\x00binary\xff"
    await kv.set(f"{ns}:a", b"2")
    assert await kv.get(f"{ns}:a") == b"2"
    await kv.delete(f"{ns}:a", f"{ns}:missing")
    assert await kv.get(f"{ns}:a") is None
    assert await kv.get(f"{ns}:b") == b"\x00binary\xff"


async def test_plain_keys_without_namespace(kv: KV, ns: str) -> None:
    key = f"plain-{ns}"
    await kv.set(key, b"v", ttl=30)
    assert await kv.get(key) == b"v"
    await kv.delete(key)
    assert await kv.get(key) is None


async def test_delete_namespace_drops_only_that_namespace(kv: KV, ns: str) -> None:
    other = f"{ns}x"
    await kv.set(f"{ns}:a", b"1")
    await kv.set(f"{ns}:b:c", b"2")
    await kv.set(f"{other}:a", b"3")
    await kv.delete_namespace(ns)
    assert await kv.get(f"{ns}:a") is None
    assert await kv.get(f"{ns}:b:c") is None
    assert await kv.get(f"{other}:a") == b"3"
    await kv.set(f"{ns}:a", b"4")  # the namespace is usable again
    assert await kv.get(f"{ns}:a") == b"4"


async def test_ttl_expires_on_redis(aio_loop: object, redis_url: str, ns: str) -> None:
    async with connect_kv(redis_url) as kv:
        await kv.set(f"{ns}:short", b"v", ttl=0.05)
        await kv.set(f"{ns}:long", b"v", ttl=30)
        await trio.sleep(0.1)  # Redis never returns a key past its expiry
        assert await kv.get(f"{ns}:short") is None
        assert await kv.get(f"{ns}:long") == b"v"


async def test_ttl_expires_in_memory(autojump_clock: trio.abc.Clock) -> None:
    kv = MemoryKV()
    await kv.set("c:short", b"v", ttl=1)
    await kv.set("c:long", b"v", ttl=100)
    await kv.set("plain", b"v")
    await trio.sleep(2)
    assert await kv.get("c:short") is None
    assert await kv.get("c:long") == b"v"
    await trio.sleep(10_000)  # namespaced keys get a default ttl; plain ones do not
    assert await kv.get("c:long") is None
    assert await kv.get("plain") == b"v"


async def test_memory_cache_is_bounded_lru() -> None:
    kv = MemoryKV(max_entries=3)
    for key in ["a", "b", "c"]:
        await kv.set(key, key.encode())
    assert await kv.get("a") == b"a"  # a is now the most recently used
    await kv.set("d", b"d")
    assert await kv.get("b") is None
    assert [await kv.get(k) for k in ["a", "c", "d"]] == [b"a", b"c", b"d"]


async def test_pubsub_reaches_every_subscriber_in_order(kv: KV, ns: str) -> None:
    channel = f"{ns}-events"
    async with kv.subscribe(channel) as first, kv.subscribe(channel) as second:
        for i in range(5):
            await kv.publish(channel, f"m{i}".encode())
        await kv.publish(f"{channel}-other", b"not for us")
        with trio.fail_after(5):
            for subscription in (first, second):
                assert [await subscription.__anext__() for _ in range(5)] == [
                    b"m0", b"m1", b"m2", b"m3", b"m4",
                ]


async def test_pubsub_reaches_a_subscriber_on_another_node(
    aio_loop: object, redis_url: str, ns: str
) -> None:
    channel = f"{ns}-revocations"
    async with connect_kv(redis_url) as node_a, connect_kv(redis_url) as node_b:
        async with node_b.subscribe(channel) as messages:
            assert messages.connected
            await node_a.publish(channel, b'{"family_id": "f1"}')
            with trio.fail_after(5):
                async for message in messages:
                    assert message == b'{"family_id": "f1"}'
                    break


async def test_subscription_ends_with_its_block(kv: KV, ns: str) -> None:
    channel = f"{ns}-c"
    async with kv.subscribe(channel) as messages:
        pass
    await kv.publish(channel, b"late")
    with trio.fail_after(1):
        assert [m async for m in messages] == []


@pytest.mark.parametrize("backend", ["memory", "redis"])
async def test_slow_subscriber_buffer_is_bounded(
    request: pytest.FixtureRequest, aio_loop: object, backend: str, ns: str
) -> None:
    url = request.getfixturevalue("redis_url") if backend == "redis" else None
    channel = f"{ns}-flood"
    async with connect_kv(url, buffer_size=3) as kv, kv.subscribe(channel) as messages:
        for i in range(10):
            await kv.publish(channel, str(i).encode())
        with trio.fail_after(5):
            while messages.dropped < 7:  # Redis delivers through a background task
                await trio.sleep(0.01)
        assert [await messages.__anext__() for _ in range(3)] == [b"7", b"8", b"9"]
        assert kv.dropped_messages == 7
