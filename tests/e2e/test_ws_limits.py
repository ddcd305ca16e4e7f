"""Limits a client meets on the WebSocket port, over real sockets: the rate limit, and
the budget for unfinished messages (with the process's memory measured)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
import trio
from trio_websocket import open_websocket_url

from protocol import errors
from gateway.app import App
from tests.conftest import make_config
from tests.e2e.wsraw import close_code_after, healthy, open_files, opened, port_of, read_all, rss_bytes
from tests.protocol.wsbytes import frame
from tests.support import GatewayProcess, http_get, stop

MiB = 1 << 20


def ping(i: int | None) -> str:
    msg: dict = {"jsonrpc": "2.0", "method": "system.ping"}
    if i is not None:
        msg["id"] = i
    return orjson.dumps(msg).decode()


async def test_requests_over_the_rate_get_32006_with_retry_after(nursery: trio.Nursery, tmp_path: Path) -> None:
    # One token a second: what comes back during the test is at most a token or two.
    app = App(make_config(tmp_path, rate_limit=1.0, rate_burst=100))
    ws_port, admin_port = await nursery.start(app.run)
    url = f"ws://127.0.0.1:{ws_port}/v1"
    async with open_websocket_url(url) as ws:
        for i in range(130):
            await ws.send_message(ping(i))
        answers = [orjson.loads(await ws.get_message()) for _ in range(130)]
        ok = [a for a in answers if "result" in a]
        over = [a for a in answers if "error" in a]
        assert 100 <= len(ok) <= 102 and len(ok) + len(over) == 130
        assert {a["error"]["code"] for a in over} == {errors.OVERLOADED}
        assert all(0 < a["error"]["data"]["retry_after"] <= 1.0 for a in over)
        # Notifications over the rate are dropped (and counted); a batch counts its members.
        for _ in range(20):
            await ws.send_message(ping(None))
        await ws.send_message("[" + ",".join(ping(1000 + i) for i in range(5)) + "]")
        batch = orjson.loads(await ws.get_message())
        assert [a["error"]["code"] for a in batch] == [errors.OVERLOADED] * 5
        assert all(3.0 <= a["error"]["data"]["retry_after"] <= 5.0 for a in batch)
        # retry_after is honest: after it, the request goes through.
        await ws.send_message(ping(2000))
        wait = orjson.loads(await ws.get_message())["error"]["data"]["retry_after"]
        await trio.sleep(wait)
        await ws.send_message(ping(2001))
        assert orjson.loads(await ws.get_message())["result"] == {"pong": True}
    _, metrics = await http_get(f"http://127.0.0.1:{admin_port}/metrics")
    counts = {line.split("}")[0]: float(line.split()[-1]) for line in metrics.decode().splitlines()
              if line.startswith("mg_ws_events_total{")}
    assert counts['mg_ws_events_total{kind="rate_limited",label="request"'] == len(over) + 5 + 1
    assert 19 <= counts['mg_ws_events_total{kind="rate_limited",label="notification"'] <= 20
    app.request_shutdown()


async def test_default_rate_fits_a_burst_of_200_and_100_per_second(gateway) -> None:  # type: ignore[no-untyped-def]
    async with open_websocket_url(gateway.url) as ws:
        for i in range(200):
            await ws.send_message(ping(i))
        answers = [orjson.loads(await ws.get_message()) for _ in range(200)]
    assert all("result" in a for a in answers)


async def test_unfinished_messages_of_1000_connections_stay_within_the_budget(tmp_path: Path) -> None:
    """1,000 connections each sending 1 MiB of a message they never finish: before the
    budget the process grew by about 1 GB and kept it. Now the budget (64 MiB) bounds
    what is held: past it a connection is closed with 1009, the rest with 1008 at the
    message timeout, and the memory is given back."""
    node = GatewayProcess(tmp_path, "--message-timeout", "3")
    try:
        await healthy(node, 10_000)
        pid, port = node.proc.pid, port_of(node.url)
        files, base = open_files(pid), rss_bytes(pid)
        zero = bytes(4)  # a zero mask key: the payload goes as it is, no masking work here
        chunk = b"x" * 65536
        message = frame(0x1, chunk, fin=False, key=zero) + b"".join(
            frame(0x0, chunk, fin=False, key=zero) for _ in range(15))
        codes: dict[int | None, int] = {}
        peak = base

        async def one() -> None:
            code, _ = await close_code_after(port, message, timeout=30)
            codes[code] = codes.get(code, 0) + 1

        async def watch() -> None:
            nonlocal peak
            while True:
                peak = max(peak, rss_bytes(pid))
                await trio.sleep(0.02)

        with trio.fail_after(60):
            async with trio.open_nursery() as outer:
                outer.start_soon(watch)
                limiter = trio.CapacityLimiter(500)  # the test client's own open files

                async def limited() -> None:
                    async with limiter:
                        await one()

                async with trio.open_nursery() as clients:
                    for _ in range(1000):
                        clients.start_soon(limited)
                outer.cancel_scope.cancel()
        assert set(codes) <= {1008, 1009} and codes.get(1009, 0) > 500, codes
        assert peak - base < 256 * MiB, (peak - base) // MiB
        await healthy(node, files)
        with trio.move_on_after(10):
            while rss_bytes(pid) - base > 64 * MiB:
                await trio.sleep(0.1)
        assert rss_bytes(pid) - base <= 64 * MiB, ((peak - base) // MiB, (rss_bytes(pid) - base) // MiB)
    finally:
        stop(node)
    assert node.proc.returncode == 0, node.log


@pytest.mark.parametrize("size", [1 << 20])
async def test_a_whole_message_just_under_the_limit_in_fragments_is_answered(gateway, size: int) -> None:  # type: ignore[no-untyped-def]
    body = orjson.dumps({"jsonrpc": "2.0", "id": 7, "method": "system.ping", "params": {"pad": "p" * (size - 200)}})
    stream = await opened(port_of(gateway.url))
    async with stream:
        parts = [body[i:i + 65536] for i in range(0, len(body), 65536)]
        data = frame(0x1, parts[0], fin=False) + b"".join(
            frame(0x0, p, fin=i == len(parts) - 1) for i, p in enumerate(parts[1:], 1))
        await stream.send_all(data)
        head = await stream.receive_some(65536)
    assert b'"id":7' in head and b"-32602" in head


async def test_handshakes_in_progress_are_bounded(nursery: trio.Nursery, tmp_path: Path) -> None:
    import attrs

    app = App(make_config(tmp_path))
    app.gateway.limits = attrs.evolve(app.gateway.limits, max_handshakes=3)
    ws_port, _ = await nursery.start(app.run)
    silent = [await trio.open_tcp_stream("127.0.0.1", ws_port) for _ in range(3)]
    with trio.fail_after(5):
        while app.gateway._handshaking < 3:
            await trio.sleep(0.01)
    extra = await trio.open_tcp_stream("127.0.0.1", ws_port)
    with trio.fail_after(5):  # closed at once, long before the 10 s handshake timeout
        assert await read_all(extra) == b""
    assert app.gateway.counts["handshake_refused", "too_many_handshakes"] == 1
    for stream in silent + [extra]:
        await stream.aclose()
    with trio.fail_after(5):
        while app.gateway._handshaking:
            await trio.sleep(0.01)
    async with open_websocket_url(f"ws://127.0.0.1:{ws_port}/v1") as ws:
        await ws.send_message(ping(1))
        assert orjson.loads(await ws.get_message())["result"] == {"pong": True}
    app.request_shutdown()


async def test_notifications_for_a_client_that_does_not_read_are_bounded(gateway) -> None:  # type: ignore[no-untyped-def]
    stream = await opened(port_of(gateway.url))  # never reads after the handshake
    async with stream:
        with trio.fail_after(5):
            while not gateway.app.gateway.connections:
                await trio.sleep(0.01)
        (conn,) = gateway.app.gateway.connections
        pushed = 0
        with trio.fail_after(20):
            while not conn.closed and pushed < 10_000:  # 100 MB at most, if nothing bounded them
                conn.notify("test.note", {"pad": "n" * 10_000})
                pushed += 1
                await trio.sleep(0)
        assert conn.closed and pushed < 10_000
        assert conn._out_bytes <= (1 << 20) + 20_000
    assert gateway.app.gateway.counts["closed", "1008"] == 1
