"""protocol/push.py with values: connections that record what they are sent, trio's
MockClock for the rate rules."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest
import trio
import trio.testing

from actors.errors import InvalidParams
from protocol.push import PushHub, PushLimits


class Conn:
    """What push sees of a connection."""

    def __init__(self, conn_id: int) -> None:
        self.id = conn_id
        self.closed = False
        self.backlog = 0
        self.sent: list[dict[str, Any]] = []
        self.closes: list[int] = []
        self.closers: list[Callable[[], None]] = []

    def notify(self, method: str, params: Any) -> None:
        assert method == "test.changed"
        self.sent.append(params)

    def close_soon(self, code: int, reason: str, *, after: Sequence[tuple[str, Any]] = ()) -> None:
        self.closes.append(code)

    def on_close(self, callback: Callable[[], None]) -> None:
        self.closers.append(callback)

    def end(self) -> None:
        self.closed = True
        for callback in self.closers:
            callback()


@pytest.fixture
def clock() -> trio.testing.MockClock:
    return trio.testing.MockClock(autojump_threshold=0)


def origin(conn_id: int) -> str:
    return f"n1/{conn_id}"


async def settle() -> None:
    await trio.testing.wait_all_tasks_blocked()


@pytest.fixture
async def hub(nursery: trio.Nursery, clock: trio.testing.MockClock) -> PushHub:
    hub = PushHub("test.changed", origin, PushLimits(max_pending=3, max_per_connection=2))
    nursery.start_soon(hub.run)
    return hub


def subscribed(hub: PushHub, conn: Conn, user: str = "u1") -> str:
    sub = hub.subscribe(conn, user)
    hub.activate(conn, sub)
    return sub


async def test_a_change_goes_to_every_other_connection_of_the_user(hub: PushHub, clock: trio.testing.MockClock) -> None:
    a, b, c, stranger = Conn(1), Conn(2), Conn(3), Conn(4)
    subs = {conn.id: subscribed(hub, conn) for conn in (a, b, c)}
    subscribed(hub, stranger, "u2")
    hub.push("u1", "m1", origin(1), {"position_ms": 5})
    await settle()
    assert a.sent == [] and stranger.sent == []
    assert b.sent == [{"subscription": subs[2], "position_ms": 5}]
    assert c.sent == [{"subscription": subs[3], "position_ms": 5}]
    hub.push("u1", "m1", "n2/1", {"position_ms": 6})  # connection 1 of another node: not this one
    await settle()
    assert a.sent == [{"subscription": subs[1], "position_ms": 6}]


async def test_at_most_two_a_second_per_item_and_the_latest_wins(hub: PushHub, clock: trio.testing.MockClock) -> None:
    a, b = Conn(1), Conn(2)
    subscribed(hub, b)
    start = trio.current_time()
    for n in range(100):
        hub.push("u1", "m1", origin(1), {"n": n})
        hub.push("u1", "m2", origin(1), {"n": 1000 + n})
        await trio.sleep(0.01)  # 100 changes a second per item, for one second
    await trio.sleep(1.0)
    times = [n["n"] for n in b.sent if n["n"] < 1000]
    assert times[0] == 0 and times[-1] == 99  # the first at once, the last one not lost
    assert len(times) <= 4  # 0 s, 0.5 s, 1.0 s (+ the final)
    assert [n["n"] for n in b.sent if n["n"] >= 1000][-1] == 1099
    assert trio.current_time() - start < 2.5


async def test_a_connection_behind_on_writes_gets_the_latest_state_later(hub: PushHub, clock: trio.testing.MockClock) -> None:
    b = Conn(2)
    subscribed(hub, b)
    b.backlog = 8  # frames it has not written yet
    for n in range(50):
        hub.push("u1", "m1", origin(1), {"n": n})
        hub.push("u1", "m2", origin(1), {"n": 100 + n})
        await trio.sleep(0.1)
    assert b.sent == []
    b.backlog = 0
    await trio.sleep(0.2)
    assert sorted(n["n"] for n in b.sent) == [49, 149]  # one per item: the latest


async def test_too_many_waiting_items_close_the_connection(hub: PushHub, clock: trio.testing.MockClock) -> None:
    b = Conn(2)
    subscribed(hub, b)
    b.backlog = 100
    for item in ("m1", "m2", "m3"):
        hub.push("u1", item, origin(1), {})
    assert b.closes == []
    hub.push("u1", "m4", origin(1), {})
    assert b.closes == [1008] and not hub.wants("u1")


async def test_limits_and_the_end_of_a_connection(hub: PushHub, clock: trio.testing.MockClock) -> None:
    b = Conn(2)
    first = subscribed(hub, b)
    subscribed(hub, b)
    with pytest.raises(InvalidParams):
        hub.subscribe(b, "u1")
    assert hub.unsubscribe(b, first) and not hub.unsubscribe(b, first)
    assert not hub.unsubscribe(Conn(3), first)
    subscribed(hub, b)
    assert len(hub) == 2
    b.end()
    assert len(hub) == 0 and not hub.wants("u1")
    hub.push("u1", "m1", origin(1), {})
    await settle()
    assert b.sent == []


async def test_nothing_is_sent_before_the_id_is(hub: PushHub, clock: trio.testing.MockClock) -> None:
    b = Conn(2)
    sub = hub.subscribe(b, "u1")
    hub.push("u1", "m1", origin(1), {"n": 1})
    await settle()
    assert b.sent == []
    hub.activate(b, sub)
    await settle()
    assert b.sent == [{"subscription": sub, "n": 1}]


async def test_two_subscriptions_of_one_connection_each_get_it(hub: PushHub, clock: trio.testing.MockClock) -> None:
    b = Conn(2)
    s1, s2 = subscribed(hub, b), subscribed(hub, b)
    hub.push("u1", "m1", origin(1), {})
    await settle()
    assert sorted(n["subscription"] for n in b.sent) == sorted([s1, s2])


async def test_one_pass_hands_a_connection_at_most_max_backlog_frames(hub: PushHub,
                                                                      clock: trio.testing.MockClock) -> None:
    b = Conn(2)
    subscribed(hub, b)
    for item in range(3):
        hub.push("u1", f"m{item}", origin(1), {})
    await settle()
    assert len(b.sent) == 3
    many = PushHub("test.changed", origin, PushLimits(max_backlog=2))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(many.run)
        c = Conn(3)
        subscribed(many, c)
        for item in range(5):
            many.push("u1", f"m{item}", origin(1), {})
        await settle()
        assert len(c.sent) == 2  # the rest after PushLimits.retry
        await trio.sleep(0.2)
        assert len(c.sent) == 5
        nursery.cancel_scope.cancel()
