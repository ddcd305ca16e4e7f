"""Server push to subscribed connections, in the style of geth's `eth_subscribe`.

A connection subscribes (`subscribe` answers an id, which the caller sends back as the
method's result), then gets notifications `{subscription: id, ...}` for what it
subscribed to, until it unsubscribes or closes. Notifications of a subscription are
only handed to the connection after the id was: `subscribe` returns the id from a
handler and the pump that sends notifications runs in another task, which only sees a
subscription once the handler's answer has been queued on the connection (the answer is
queued before `activate` is called, see protocol/api/playback.py).

What is pushed is state, not events: one value per key (a user's item). A subscription
keeps the latest value of each key not yet sent, so

- each key goes out at most once per `PushLimits.min_interval` per subscription (two a
  second by default): faster changes in between are coalesced into the latest;
- a connection whose unwritten frames exceed `max_backlog` is skipped until they are
  written: it gets the latest value per key later, never a growing queue;
- at most `max_pending` keys wait per subscription; past it the connection is closed
  with 1008 as a client that reads too slowly (as the transport does);
- at most `max_per_connection` subscriptions per connection (-32602 past it).

Subscriptions end with their connection (`Subscriber.on_close`). Changes are matched
to subscriptions by user; the connection a change came from (its `origin`) is not told.

The transport's part is small: a connection's `id`, `notify`, `close_soon`, `closed`,
and two hooks, `backlog` (frames handed to it and not yet written) and `on_close`.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import secrets
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import attrs
import trio

from actors.errors import InvalidParams

log = logging.getLogger("protocol.push")

CLOSE_POLICY = 1008
Params = dict[str, Any]


class Subscriber(Protocol):
    """A connection as push sees it (the transport's `Connection`)."""

    id: int
    closed: bool

    @property
    def backlog(self) -> int:
        """Frames handed to the connection and not yet written to its socket."""

    def notify(self, method: str, params: object) -> None: ...

    def close_soon(self, code: int, reason: str, *, after: Sequence[tuple[str, Any]] = ()) -> None: ...

    def on_close(self, callback: Callable[[], None]) -> None:
        """Call `callback` once when the connection has ended (at once if it has)."""


@attrs.frozen
class PushLimits:
    min_interval: float = 0.5
    max_backlog: int = 8
    max_pending: int = 1024
    max_per_connection: int = 4
    retry: float = 0.05  # seconds before a connection skipped for its backlog is tried again


class _Sub:
    __slots__ = ("id", "conn", "user", "origin", "pending", "sent_at", "due", "active")

    def __init__(self, sub_id: str, conn: Subscriber, user: str, origin: str) -> None:
        self.id = sub_id
        self.conn = conn
        self.user = user
        self.origin = origin
        self.pending: dict[str, Params] = {}  # key -> latest params not yet sent
        self.sent_at: dict[str, float] = {}  # key -> trio time it was last sent
        self.due = float("inf")  # when the pump looks at this subscription next
        self.active = False  # its id has been answered


class PushHub:
    """The subscriptions of one node for one notification `method`; `run()` is its pump."""

    def __init__(self, method: str, origin: Callable[[int], str], limits: PushLimits = PushLimits()) -> None:
        self.method = method
        self.limits = limits
        self._origin = origin
        self._by_user: dict[str, dict[str, _Sub]] = {}
        self._by_conn: dict[int, dict[str, _Sub]] = {}
        self._timers: list[tuple[float, int, _Sub]] = []
        self._seq = itertools.count()
        self._wake = trio.Event()
        self.sent = 0
        self.closed_slow = 0

    # -- subscriptions -------------------------------------------------------------

    def subscribe(self, conn: Subscriber, user_id: str) -> str:
        """A new subscription of `conn` to `user_id`'s changes; its id. Nothing is sent
        for it before `activate(conn, id)`."""
        mine = self._by_conn.get(conn.id)
        if mine is not None and len(mine) >= self.limits.max_per_connection:
            raise InvalidParams("params", f"at most {self.limits.max_per_connection} subscriptions per connection; "
                                          "unsubscribe one first")
        if mine is None:
            mine = self._by_conn[conn.id] = {}
            conn.on_close(lambda: self.drop_connection(conn.id))
        sub = _Sub("0x" + secrets.token_hex(16), conn, user_id, self._origin(conn.id))
        mine[sub.id] = sub
        self._by_user.setdefault(user_id, {})[sub.id] = sub
        return sub.id

    def activate(self, conn: Subscriber, sub_id: str) -> None:
        """The subscription's id has been sent: its notifications may follow."""
        sub = self._by_conn.get(conn.id, {}).get(sub_id)
        if sub is not None:
            sub.active = True
            if sub.pending:
                self._schedule(sub, trio.current_time())

    def unsubscribe(self, conn: Subscriber, sub_id: str) -> bool:
        """End one subscription of `conn`; False if it has none by that id."""
        sub = self._by_conn.get(conn.id, {}).pop(sub_id, None)
        if sub is None:
            return False
        self._forget(sub)
        return True

    def drop_connection(self, conn_id: int) -> None:
        for sub in (self._by_conn.pop(conn_id, None) or {}).values():
            self._forget(sub)

    def _forget(self, sub: _Sub) -> None:
        sub.active = False
        sub.pending.clear()
        subs = self._by_user.get(sub.user)
        if subs is not None:
            subs.pop(sub.id, None)
            if not subs:
                del self._by_user[sub.user]

    def wants(self, user_id: str) -> bool:
        return user_id in self._by_user

    def __len__(self) -> int:
        return sum(len(subs) for subs in self._by_user.values())

    # -- changes ---------------------------------------------------------------------

    def push(self, user_id: str, key: str, origin: str, params: Params) -> None:
        """The latest state of `key` for `user_id`'s subscriptions, except those of the
        connection `origin` names. Never blocks; `params` is shared, not copied."""
        subs = self._by_user.get(user_id)
        if not subs:
            return
        now = trio.current_time()
        for sub in list(subs.values()):
            if sub.origin == origin:
                continue
            pending = sub.pending
            if key not in pending and len(pending) >= self.limits.max_pending:
                self._too_slow(sub)
                continue
            pending[key] = params
            if sub.active:
                self._schedule(sub, max(now, sub.sent_at.get(key, -1e9) + self.limits.min_interval))

    def _too_slow(self, sub: _Sub) -> None:
        self.closed_slow += 1
        log.warning("closing connection %s: %d push notifications wait", sub.conn.id, len(sub.pending),
                    extra={"event": "push.slow_reader", "conn": sub.conn.id})
        self.drop_connection(sub.conn.id)
        sub.conn.close_soon(CLOSE_POLICY, "client reads too slowly")

    def _schedule(self, sub: _Sub, at: float) -> None:
        if at < sub.due:
            sub.due = at
            heapq.heappush(self._timers, (at, next(self._seq), sub))
            if at <= trio.current_time() or self._timers[0][2] is sub:
                self._wake.set()

    # -- the pump --------------------------------------------------------------------

    async def run(self) -> None:
        """Send what is due, for ever (run it in the node's nursery)."""
        timers = self._timers
        while True:
            now = trio.current_time()
            while timers and timers[0][0] <= now:
                at, _, sub = heapq.heappop(timers)
                if at == sub.due:
                    sub.due = float("inf")
                    self._service(sub, now)
            if self._wake.is_set():
                self._wake = trio.Event()
            with trio.move_on_at(timers[0][0] if timers else float("inf")):
                await self._wake.wait()
            await trio.lowlevel.checkpoint()

    def _service(self, sub: _Sub, now: float) -> None:
        if not sub.active or not sub.pending:
            return
        conn = sub.conn
        if conn.closed:
            self.drop_connection(conn.id)
            return
        interval = self.limits.min_interval
        sent_at = sub.sent_at
        later = float("inf")
        handed = 0  # a transport may count a frame in `backlog` only once its write starts
        for key in list(sub.pending):
            ready = sent_at.get(key, -1e9) + interval
            if ready > now:
                later = min(later, ready)
                continue
            if conn.backlog + handed >= self.limits.max_backlog:
                later = min(later, now + self.limits.retry)
                break
            params = sub.pending.pop(key)
            conn.notify(self.method, {"subscription": sub.id, **params})
            handed += 1
            sent_at[key] = now
            self.sent += 1
        if len(sent_at) > 2 * len(sub.pending) + 64:
            for key in [k for k, t in sent_at.items() if t + interval <= now]:
                del sent_at[key]
        if sub.pending:
            self._schedule(sub, later)
