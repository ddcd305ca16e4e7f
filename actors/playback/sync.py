"""Playback changes between a user's devices and between nodes.

Every change of a user's playback state (a position, a stop, a mark played) becomes a
`Change`. `PlaybackSync.changed` hands it at once to this node's listener (the
subscriptions of protocol/push.py, which coalesce and send it) and, when the node is
one of several (a Redis KV), queues it for the other nodes: the sync actor publishes
what is queued every `PUBLISH_INTERVAL` seconds as one message on `CHANNEL`, keeping
only the latest change per (user, item), so Redis carries at most 1 / PUBLISH_INTERVAL
messages a second per node whatever clients send. It also follows the channel and
hands other nodes' changes to the listener.

The same messages carry the ids of sessions that ended here (a stop, an idle close),
so that a node holding such a session drops it and refuses its later positions and
stops with -32004 (the answer a stopped session gets on its own node), without a
database read on the position path. Pub/sub is at most once: after a reconnect the
playback actor checks its sessions against storage, and its sweep does so regularly.

Only changes of users someone listens to are built (`wanted`): on one node, users
with a subscription here; on several, every user (another node may have one).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

import attrs
import orjson
import trio

from actors.kv import KV
from actors.kv.notices import MISSED, from_other_nodes
from runtime import Actor

log = logging.getLogger("actors.playback.sync")

CHANNEL = "playback.sync"
PUBLISH_INTERVAL = 0.05
"""Seconds between two publications of one node (changes wait at most this long)."""
MAX_PER_MESSAGE = 500
"""Changes or ended sessions in one published message; more go in further messages."""
MAX_QUEUED = 100_000
"""Changes waiting to be published (one per user and item); past it new keys are dropped."""


@attrs.frozen(slots=True)
class Change:
    """A user's playback state of one item after a change, and where the change came
    from: `origin` is "<node id>/<connection id>" ("" when no connection made it)."""

    user_id: str
    content_id: str
    position_ms: int
    completed: bool
    played: bool
    device_id: str
    updated_at: int  # wall ms
    origin: str

    def row(self) -> list[Any]:
        return [self.user_id, self.content_id, self.position_ms, self.completed, self.played,
                self.device_id, self.updated_at, self.origin]

    @classmethod
    def from_row(cls, row: Any) -> Change | None:
        """The change a published row describes; None when it is malformed."""
        if not isinstance(row, list) or len(row) != 8:
            return None
        user, content, position, completed, played, device, updated_at, origin = row
        if not (isinstance(user, str) and isinstance(content, str) and isinstance(device, str)
                and isinstance(origin, str) and type(position) is int and type(updated_at) is int
                and type(completed) is bool and type(played) is bool):
            return None
        return cls(user, content, position, completed, played, device, updated_at, origin)


class ChangeListener(Protocol):
    """Who hears the changes on this node (the subscriptions)."""

    def wants(self, user_id: str) -> bool:
        """Whether a change of `user_id` would reach anyone here."""

    def deliver(self, change: Change) -> None:
        """Take a change; never blocks."""


def encode(node_id: str, changes: list[Change], ended: list[str]) -> bytes:
    return orjson.dumps({"node": node_id, "changes": [c.row() for c in changes], "ended": ended})


def decode(notice: dict[str, Any]) -> tuple[list[Change], list[str]]:
    """The changes and ended session ids of another node's notice (malformed parts dropped)."""
    rows = notice.get("changes")
    changes = [c for row in rows if (c := Change.from_row(row)) is not None] if isinstance(rows, list) else []
    ended = notice.get("ended")
    ids = [s for s in ended if isinstance(s, str)] if isinstance(ended, list) else []
    return changes, ids


class PlaybackSync:
    """The node's side of the sync: kept beside the sync actor (a `Shared`), called by
    the playback domain and actor, listened to by the subscriptions."""

    def __init__(self, node_id: str, *, multi_node: bool) -> None:
        self.node_id = node_id
        self.multi_node = multi_node
        self.listener: ChangeListener | None = None
        self.on_ended: Callable[[tuple[str, ...]], None] | None = None
        """Told the sessions other nodes ended; told () when some may have been missed."""
        self.outgoing: dict[tuple[str, str], Change] = {}
        self.ended: list[str] = []
        self.published = 0  # messages
        self.received = 0  # changes from other nodes
        self.dropped = 0
        self._wake = trio.Event()

    def wanted(self, user_id: str) -> bool:
        """Whether a change of `user_id` is worth building."""
        if self.multi_node:
            return True
        listener = self.listener
        return listener is not None and listener.wants(user_id)

    def changed(self, change: Change) -> None:
        """A change made on this node: to the listener now, to other nodes soon."""
        listener = self.listener
        if listener is not None and listener.wants(change.user_id):
            listener.deliver(change)
        if self.multi_node:
            key = (change.user_id, change.content_id)
            if key not in self.outgoing and len(self.outgoing) >= MAX_QUEUED:
                self.dropped += 1
                return
            self.outgoing[key] = change
            self._wake.set()

    def ended_here(self, session_ids: list[str]) -> None:
        """Sessions this node ended: other nodes must refuse them from now on."""
        if self.multi_node and session_ids:
            self.ended.extend(session_ids[: MAX_QUEUED - len(self.ended)])
            self._wake.set()

    def from_elsewhere(self, notice: dict[str, Any]) -> None:
        changes, ended = decode(notice)
        self.received += len(changes)
        listener = self.listener
        if listener is not None:
            for change in changes:
                if listener.wants(change.user_id):
                    listener.deliver(change)
        if ended and self.on_ended is not None:
            self.on_ended(tuple(ended))

    async def wait_for_work(self) -> None:
        while not (self.outgoing or self.ended):
            if self._wake.is_set():
                self._wake = trio.Event()
            await self._wake.wait()

    def take(self) -> tuple[list[Change], list[str]]:
        changes, ended = list(self.outgoing.values()), self.ended
        self.outgoing, self.ended = {}, []
        return changes, ended


class SyncActor(Actor):
    """Publishes this node's changes and follows the other nodes' (several nodes only)."""

    def __init__(self, sync: PlaybackSync, kv: KV) -> None:
        self.sync = sync
        self.kv = kv

    async def started(self) -> None:
        if not self.sync.multi_node:
            return
        following = trio.Event()
        self.start_soon(self._follow, following)
        await following.wait()
        self.start_soon(self._publish)

    async def _publish(self) -> None:
        sync = self.sync
        while True:
            await sync.wait_for_work()
            await trio.sleep(PUBLISH_INTERVAL)  # gathers what comes meanwhile into one message
            changes, ended = sync.take()
            while changes or ended:
                batch, changes = changes[:MAX_PER_MESSAGE], changes[MAX_PER_MESSAGE:]
                gone, ended = ended[:MAX_PER_MESSAGE], ended[MAX_PER_MESSAGE:]
                await self.kv.publish(CHANNEL, encode(sync.node_id, batch, gone))
                sync.published += 1

    async def _follow(self, following: trio.Event) -> None:
        async with self.kv.subscribe(CHANNEL) as subscription:
            following.set()
            async for notice in from_other_nodes(subscription, self.sync.node_id):
                if notice is MISSED:
                    if self.sync.on_ended is not None:
                        self.sync.on_ended(())
                    continue
                self.sync.from_elsewhere(notice)
