"""Microbenchmark: cost of `ActorRef.ask` against a bare memory-channel round trip.

Prints round trips per second (one asker, sequential) for:
  bare      request channel + shared reply channel, no envelope, no timeout
  event     envelope with a trio.Event + slot for the reply, under move_on_after
  event-nt  the same without a timeout scope
  channel   envelope with a fresh 1-slot memory channel for the reply, under move_on_after
  ask       runtime ActorRef.ask (lowlevel park/reschedule reply; timeout by a shared
            timer task instead of a cancel scope per ask, see runtime/_timeouts.py)
  ask-none  runtime ActorRef.ask(timeout=None)
  tell      runtime ActorRef.tell (one way)

Run: .venv/bin/python bench/runtime_ask.py [N]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from runtime import Actor, spawn  # noqa: E402

N = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000


class Echo(Actor):
    async def receive(self, msg: object) -> object:
        return msg


class _EventCall:
    __slots__ = ("msg", "value", "event")

    def __init__(self, msg: object) -> None:
        self.msg = msg
        self.value: object = None
        self.event = trio.Event()


async def bench_bare(n: int) -> float:
    req_send, req_recv = trio.open_memory_channel[object](1024)
    rep_send, rep_recv = trio.open_memory_channel[object](1)

    async def server() -> None:
        async for msg in req_recv:
            await rep_send.send(msg)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(server)
        t0 = time.perf_counter()
        for i in range(n):
            await req_send.send(i)
            await rep_recv.receive()
        elapsed = time.perf_counter() - t0
        nursery.cancel_scope.cancel()
    return elapsed


async def bench_event(n: int, timeout: bool = True) -> float:
    send, recv = trio.open_memory_channel[_EventCall](1024)

    async def server() -> None:
        async for call in recv:
            call.value = call.msg
            call.event.set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(server)
        t0 = time.perf_counter()
        for i in range(n):
            call = _EventCall(i)
            if timeout:
                with trio.move_on_after(5.0):
                    send.send_nowait(call)
                    await call.event.wait()
            else:
                send.send_nowait(call)
                await call.event.wait()
        elapsed = time.perf_counter() - t0
        nursery.cancel_scope.cancel()
    return elapsed


async def bench_channel(n: int) -> float:
    send, recv = trio.open_memory_channel[tuple[object, trio.MemorySendChannel[object]]](1024)

    async def server() -> None:
        async for msg, reply in recv:
            reply.send_nowait(msg)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(server)
        t0 = time.perf_counter()
        for i in range(n):
            reply_send, reply_recv = trio.open_memory_channel[object](1)
            with trio.move_on_after(5.0):
                send.send_nowait((i, reply_send))
                await reply_recv.receive()
        elapsed = time.perf_counter() - t0
        nursery.cancel_scope.cancel()
    return elapsed


async def bench_ask(n: int, timeout: float | None = 5.0) -> float:
    async with trio.open_nursery() as nursery:
        ref = await spawn(nursery, Echo, "echo")
        t0 = time.perf_counter()
        for i in range(n):
            await ref.ask(i, timeout=timeout)
        elapsed = time.perf_counter() - t0
        nursery.cancel_scope.cancel()
    return elapsed


async def bench_tell(n: int) -> float:
    async with trio.open_nursery() as nursery:
        ref = await spawn(nursery, Echo, "echo")
        t0 = time.perf_counter()
        for i in range(n):
            await ref.tell(i)
        await ref.ask(None)  # drain
        elapsed = time.perf_counter() - t0
        nursery.cancel_scope.cancel()
    return elapsed


async def main() -> None:
    cases = [
        ("bare", bench_bare),
        ("event", bench_event),
        ("event-nt", lambda n: bench_event(n, False)),
        ("channel", bench_channel),
        ("ask", bench_ask),
        ("ask-none", lambda n: bench_ask(n, None)),
        ("tell", bench_tell),
    ]
    results: dict[str, float] = {}
    for name, fn in cases:
        await fn(N // 10)  # warm up
        best = min([await fn(N) for _ in range(3)])
        results[name] = best
    bare = results["bare"]
    print(f"{N} sequential round trips, best of 3")
    for name, elapsed in results.items():
        print(
            f"{name:9s} {N / elapsed:10.0f} /s  {elapsed / N * 1e6:6.2f} us each"
            f"  (+{(elapsed - bare) / N * 1e6:5.2f} us vs bare)"
        )


if __name__ == "__main__":
    trio.run(main)
