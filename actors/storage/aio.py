"""Calling asyncio libraries (asyncpg, redis-py) from trio, through trio-asyncio.

`trio_asyncio.aio_as_trio` waits, when the trio caller is cancelled, until the
asyncio task has finished reacting to its cancellation. asyncpg reacts to a cancelled
query by sending a cancel request to the server and waiting for it; on a stalled
network that takes a minute, and the caller's timeout with it. `AsyncioBridge.call`
returns at once instead and leaves the asyncio task to finish its clean-up in the
background, so a trio deadline is a deadline.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import outcome
import trio
import trio_asyncio

T = TypeVar("T")


def _retrieve(future: asyncio.Future[Any]) -> None:
    # Mark the abandoned task's outcome as seen, so asyncio does not log it.
    if not future.cancelled():
        future.exception()


class AsyncioBridge:
    """Runs asyncio coroutine functions on one trio-asyncio loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    @classmethod
    def current(cls, who: str) -> AsyncioBridge:
        """The bridge to the running trio-asyncio loop; a clear error without one."""
        loop = trio_asyncio.current_loop.get()
        if loop is None:
            raise RuntimeError(
                f"{who} needs a running trio-asyncio loop: "
                "wrap the program in `async with trio_asyncio.open_loop():`"
            )
        return cls(loop)

    async def call(self, fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        """``await fn(*args, **kwargs)`` in an asyncio task, its result or exception
        returned here. If the caller is cancelled first, the task is cancelled and
        the caller gets `trio.Cancelled` without waiting for the task to finish; an
        asyncio coroutine must therefore release what it holds on CancelledError."""
        await trio.lowlevel.checkpoint_if_cancelled()
        coro = fn(*args, **kwargs)
        try:
            future = asyncio.ensure_future(coro, loop=self._loop)
        except BaseException:
            coro.close()
            raise
        task = trio.lowlevel.current_task()
        abandoned = False

        def done(finished: asyncio.Future[T]) -> None:
            if not abandoned:
                trio.lowlevel.reschedule(task, outcome.capture(finished.result))

        def abort(_: Any) -> trio.lowlevel.Abort:
            nonlocal abandoned
            if future.done():
                # The result is already on its way; deliver it, and the caller
                # sees the cancellation at its next checkpoint.
                return trio.lowlevel.Abort.FAILED
            abandoned = True
            future.cancel()
            future.add_done_callback(_retrieve)
            return trio.lowlevel.Abort.SUCCEEDED

        future.add_done_callback(done)
        return await trio.lowlevel.wait_task_rescheduled(abort)
