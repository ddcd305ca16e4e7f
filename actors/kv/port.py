"""The key-value port: a cache and pub/sub, in-process or on Redis.

Keys may carry a namespace: the text before the first ``:`` (``"ac:star w"`` is key
``star w`` of namespace ``ac``). `KV.delete_namespace` drops every key of a namespace
at once, in O(1) whatever their number (a generation number is bumped; older entries
are no longer found and expire by themselves). Keys without ``:`` are plain keys.

Failure model: the cache is an optimisation, so while the backend is unreachable
``get`` misses and ``set``/``delete``/``publish`` do nothing; none of them raises
for an outage. The outage is logged once when it starts and once when it ends, and
``healthy`` is False meanwhile (for /metrics and readiness reports).

Pub/sub is at-most-once, as Redis's is: a message published while a subscriber is
disconnected is lost to it. A subscriber that must not miss anything (revocations)
should re-read its source of truth when `Subscription.reconnects` grows.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from .attempts import Admission, AttemptPolicy


class Subscription(Protocol):
    """Messages of one channel, in publication order, as an async iterator of bytes.

    Its buffer is bounded: when the reader falls behind by more than its capacity,
    the oldest unread message is dropped and counted in ``dropped``."""

    dropped: int
    reconnects: int

    @property
    def connected(self) -> bool:
        """False while the backend is unreachable and the subscription is retrying."""

    async def wait_connected(self) -> None:
        """Return once the subscription is (again) receiving."""

    def __aiter__(self) -> AsyncIterator[bytes]: ...

    async def __anext__(self) -> bytes: ...


class KV(Protocol):
    healthy: bool
    """False while the backend is unreachable (always True in-process)."""

    outages: int
    """How many times the backend became unreachable since start."""

    async def get(self, key: str) -> bytes | None:
        """The value, or None when absent, expired, or the backend is down."""

    async def set(self, key: str, value: bytes, *, ttl: float | None = None) -> None:
        """Store ``value``, for ``ttl`` seconds if given. Namespaced keys without a
        ttl get `NAMESPACED_DEFAULT_TTL`, so invalidated generations go away."""

    async def delete(self, *keys: str) -> None:
        """Remove keys (absent ones are ignored)."""

    async def delete_namespace(self, namespace: str) -> None:
        """Make every key ``namespace:...`` absent, in O(1)."""

    async def publish(self, channel: str, message: bytes) -> None:
        """Send ``message`` to every current subscriber of ``channel``, on every
        node sharing the backend, this one included."""

    def subscribe(self, channel: str) -> AbstractAsyncContextManager[Subscription]:
        """Receive what is published on ``channel`` after the subscription is
        entered (when the backend is reachable then), until the block exits."""

    async def wait_healthy(self) -> None:
        """Return once the backend is reachable."""

    async def count_attempt(self, key: str, policy: AttemptPolicy, now_ms: int) -> Admission:
        """Count one attempt for `key` now, atomically, or refuse it while the key is
        locked (see `attempts`). Every node sharing the backend counts one streak;
        while the backend is unreachable each node counts on its own."""

    async def clear_attempts(self, key: str) -> None:
        """End `key`'s streak of attempts (and its lock)."""


NAMESPACED_DEFAULT_TTL = 3600.0


def split_namespace(key: str) -> tuple[str, str] | None:
    """``(namespace, rest)`` for ``"namespace:rest"``, None for a plain key."""
    namespace, sep, rest = key.partition(":")
    return (namespace, rest) if sep else None
