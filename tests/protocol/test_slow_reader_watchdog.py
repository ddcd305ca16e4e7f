"""The transport's slow-reader watchdog with values: a fake socket and trio's MockClock.

A connection that rarely gets anything (server push to a subscriber) must not be
closed because one write happened to be under way at the watchdog's tick after a quiet
period; a client that stops reading is still closed within two periods."""

from __future__ import annotations

from typing import Any

import trio
import trio.testing

from protocol.transport import CLOSE_POLICY, Connection, TransportLimits

PERIOD = 10.0


class FakeSocket:
    def __init__(self) -> None:
        self.stuck = False
        self.release = trio.Event()
        self.closed_with: int | None = None

    async def send_message(self, data: str) -> None:
        if self.stuck:
            await self.release.wait()

    async def aclose(self, code: int, reason: str) -> None:
        self.closed_with = code


class FakeGateway:
    limits = TransportLimits(slow_client_timeout=PERIOD)


async def watched(nursery: trio.Nursery) -> tuple[Connection, FakeSocket]:
    ws = FakeSocket()
    conn = Connection(ws, FakeGateway(), None)  # type: ignore[arg-type]
    nursery.start_soon(conn._watchdog)
    return conn, ws


async def test_a_write_under_way_at_the_tick_after_a_quiet_period_is_no_stall(
        nursery: trio.Nursery, autojump_clock: Any) -> None:
    conn, ws = await watched(nursery)
    await trio.sleep(PERIOD - 0.1)  # nothing written for a whole period
    ws.stuck = True
    nursery.start_soon(conn._send, b"{}")  # a notification, its write slow for a moment
    await trio.sleep(0.5)  # the watchdog's tick passes meanwhile
    ws.release.set()
    await trio.sleep(3 * PERIOD)
    assert ws.closed_with is None and not conn.closed


async def test_a_client_that_stops_reading_is_closed_within_two_periods(
        nursery: trio.Nursery, autojump_clock: Any) -> None:
    conn, ws = await watched(nursery)
    ws.stuck = True
    nursery.start_soon(conn._send, b"{}")  # never completes
    started = trio.current_time()
    while not conn.closed:
        await trio.sleep(0.1)
    assert ws.closed_with == CLOSE_POLICY and PERIOD <= trio.current_time() - started <= 2 * PERIOD + 0.2
