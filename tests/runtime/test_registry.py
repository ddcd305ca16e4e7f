"""Registry: register, lookup, wait_for."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from runtime import Actor, Registry, spawn


class Echo(Actor):
    async def receive(self, msg: object) -> object:
        return msg


async def test_register_lookup_get_names_unregister() -> None:
    registry = Registry()
    async with trio.open_nursery() as nursery:
        ref = await spawn(nursery, Echo, "echo")
        with pytest.raises(LookupError):
            registry.lookup("echo")
        assert registry.get("echo") is None
        registry.register("echo", ref)
        assert registry.lookup("echo") is ref and registry.get("echo") is ref
        assert registry.names() == ["echo"] and "echo" in registry
        registry.register("echo", ref)  # the same ref again: fine (re-bind on restart)
        other = await spawn(nursery, Echo, "other")
        with pytest.raises(ValueError):
            registry.register("echo", other)
        registry.unregister("echo", other)  # bound to another ref: left alone
        assert registry.get("echo") is ref
        registry.unregister("echo")
        registry.unregister("echo")  # absent: ignored
        assert registry.names() == []
        nursery.cancel_scope.cancel()


async def test_wait_for_returns_once_registered(autojump_clock) -> None:
    registry = Registry()
    got: list[object] = []

    async def waiter() -> None:
        got.append(await registry.wait_for("late"))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(waiter)
        nursery.start_soon(waiter)
        await trio.sleep(3)
        assert got == []
        ref = await spawn(nursery, Echo, "late", registry=registry)
        await trio.testing.wait_all_tasks_blocked()
        assert got == [ref, ref]
        assert await registry.wait_for("late", timeout=0) is ref  # already there
        nursery.cancel_scope.cancel()


async def test_wait_for_times_out(autojump_clock) -> None:
    registry = Registry()
    start = trio.current_time()
    with pytest.raises(TimeoutError):
        await registry.wait_for("never", timeout=2.5)
    assert trio.current_time() - start == pytest.approx(2.5)
