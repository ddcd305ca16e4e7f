"""A bounded subscription buffer shared by both KV implementations."""

from __future__ import annotations

from collections import deque

import trio


class DropOldestBuffer:
    """A FIFO of at most ``capacity`` items for one reader. ``put`` never blocks:
    when full it drops the oldest item and counts it in ``dropped``. A publisher is
    never slowed by a slow subscriber, and memory stays bounded."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self._items: deque[bytes] = deque(maxlen=capacity)
        self._waiting = trio.lowlevel.ParkingLot()
        self._closed = False
        self.dropped = 0

    def put(self, item: bytes) -> None:
        if self._closed:
            return
        if len(self._items) == self._items.maxlen:
            self.dropped += 1
        self._items.append(item)
        self._waiting.unpark()

    async def get(self) -> bytes:
        """The oldest item, waiting for one; `trio.EndOfChannel` once closed."""
        await trio.lowlevel.checkpoint()
        while not self._items:
            if self._closed:
                raise trio.EndOfChannel
            await self._waiting.park()
        return self._items.popleft()

    def close(self) -> None:
        self._closed = True
        self._items.clear()
        self._waiting.unpark_all()


class BufferedSubscription:
    """`Subscription` over a `DropOldestBuffer`; the producer sets the connection
    state with `set_connected`."""

    def __init__(self, capacity: int, *, connected: bool = True) -> None:
        self.buffer = DropOldestBuffer(capacity)
        self.reconnects = 0
        self._connected = trio.Event()
        if connected:
            self._connected.set()

    @property
    def dropped(self) -> int:
        return self.buffer.dropped

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def set_connected(self, connected: bool) -> None:
        if connected:
            self._connected.set()
        elif self._connected.is_set():
            self._connected = trio.Event()

    async def wait_connected(self) -> None:
        await self._connected.wait()

    def __aiter__(self) -> BufferedSubscription:
        return self

    async def __anext__(self) -> bytes:
        try:
            return await self.buffer.get()
        except trio.EndOfChannel:
            raise StopAsyncIteration from None
