"""The in-process KV: one node, no Redis. Same interface and semantics."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio

from actors.compact import compact

from .attempts import Admission, AttemptPolicy, AttemptTable
from .buffer import BufferedSubscription
from .port import NAMESPACED_DEFAULT_TTL, split_namespace


class MemoryKV:
    """A bounded LRU cache with expiry (on the trio clock) and in-process pub/sub.

    At most ``max_entries`` values are kept; the least recently used goes first.
    Each subscription buffers at most ``buffer_size`` messages (drop-oldest).
    Attempt counters are a table of their own (`AttemptTable`, as many keys)."""

    healthy = True
    outages = 0

    def __init__(self, *, max_entries: int = 100_000, buffer_size: int = 1000) -> None:
        self._entries: OrderedDict[str, tuple[bytes, float]] = OrderedDict()
        self._max_entries = max_entries
        self._generations: dict[str, int] = {}
        self._buffer_size = buffer_size
        self._subscribers: dict[str, set[BufferedSubscription]] = {}
        self._dropped_by_closed = 0
        self._attempts = AttemptTable(max_entries)

    def _physical(self, key: str) -> str:
        parts = split_namespace(key)
        if parts is None:
            return key
        namespace, rest = parts
        return f"{namespace}:{self._generations.get(namespace, 0)}:{rest}"

    async def get(self, key: str) -> bytes | None:
        await trio.lowlevel.checkpoint()
        physical = self._physical(key)
        entry = self._entries.get(physical)
        if entry is None:
            return None
        value, expires_at = entry
        if expires_at <= trio.current_time():
            del self._entries[physical]
            return None
        self._entries.move_to_end(physical)
        return value

    async def set(self, key: str, value: bytes, *, ttl: float | None = None) -> None:
        await trio.lowlevel.checkpoint()
        if ttl is None and split_namespace(key) is not None:
            ttl = NAMESPACED_DEFAULT_TTL
        expires_at = float("inf") if ttl is None else trio.current_time() + ttl
        physical = self._physical(key)
        self._entries[physical] = (compact(value), expires_at)
        self._entries.move_to_end(physical)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    async def delete(self, *keys: str) -> None:
        await trio.lowlevel.checkpoint()
        for key in keys:
            self._entries.pop(self._physical(key), None)

    async def delete_namespace(self, namespace: str) -> None:
        await trio.lowlevel.checkpoint()
        self._generations[namespace] = self._generations.get(namespace, 0) + 1

    async def publish(self, channel: str, message: bytes) -> None:
        await trio.lowlevel.checkpoint()
        for subscription in self._subscribers.get(channel, ()):
            subscription.buffer.put(bytes(message))

    @asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[BufferedSubscription]:
        subscription = BufferedSubscription(self._buffer_size)
        self._subscribers.setdefault(channel, set()).add(subscription)
        try:
            yield subscription
        finally:
            subscribers = self._subscribers[channel]
            subscribers.discard(subscription)
            if not subscribers:
                del self._subscribers[channel]
            self._dropped_by_closed += subscription.dropped
            subscription.buffer.close()

    async def wait_healthy(self) -> None:
        await trio.lowlevel.checkpoint()

    async def count_attempt(self, key: str, policy: AttemptPolicy, now_ms: int) -> Admission:
        # Counted before the checkpoint: the answer cannot be overtaken.
        admission = self._attempts.admit(key, policy, now_ms)
        await trio.lowlevel.checkpoint()
        return admission

    async def clear_attempts(self, key: str) -> None:
        self._attempts.clear(key)
        await trio.lowlevel.checkpoint()

    @property
    def dropped_messages(self) -> int:
        """Messages dropped by slow subscribers since start."""
        live = sum(s.dropped for subs in self._subscribers.values() for s in subs)
        return self._dropped_by_closed + live
