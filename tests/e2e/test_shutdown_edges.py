"""Shutdown against clients that do not stop, and clients that speak up late: a real
gateway process, its exit code and its last log line.

- A client that keeps sending after `system.shutdown` gets -32008 for each request and
  is closed with 1001 at the drain deadline: the normal end of a drain (exit 0,
  `stopped gracefully`), not "shutdown exceeded".
- An idle connection that answers `system.shutdown` with one request gets its answer
  before the close: the quiet moment is counted from when shutdown began."""

from __future__ import annotations

from pathlib import Path

import orjson
import trio
from trio_websocket import ConnectionClosed, open_websocket_url

from protocol import errors
from tests.support import GatewayProcess


async def test_a_client_that_never_stops_is_closed_at_the_drain_deadline_and_exit_is_0(tmp_path: Path) -> None:
    node = GatewayProcess(tmp_path, "--shutdown-timeout", "2")
    errors_seen: list[int] = []
    notes: list[str] = []
    close_code = None
    try:
        async with open_websocket_url(node.url) as ws:
            node.proc.send_signal(15)

            async def reader() -> None:
                nonlocal close_code
                try:
                    while True:
                        msg = orjson.loads(await ws.get_message())
                        if "method" in msg:
                            notes.append(msg["method"])
                        elif "error" in msg:
                            errors_seen.append(msg["error"]["code"])
                except ConnectionClosed as exc:
                    close_code = exc.reason.code

            with trio.fail_after(15):
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(reader)
                    n = 0
                    while close_code is None:
                        n += 1
                        try:
                            await ws.send_message(orjson.dumps({"jsonrpc": "2.0", "id": n, "method": "system.ping"}).decode())
                        except ConnectionClosed:
                            break
                        await trio.sleep(0.02)
        code = await trio.to_thread.run_sync(node.wait, 30)
    finally:
        node.kill()
    assert code == 0, node.log
    assert notes == ["system.shutdown"]
    assert errors_seen and set(errors_seen) == {errors.SHUTTING_DOWN}
    assert close_code == 1001
    assert "stopped gracefully" in node.log.strip().splitlines()[-1]
    assert "exceeded" not in node.log


async def test_an_idle_client_that_speaks_on_hearing_shutdown_gets_its_answer(tmp_path: Path) -> None:
    node = GatewayProcess(tmp_path)
    try:
        async with open_websocket_url(node.url) as ws:
            await ws.send_message('{"jsonrpc":"2.0","id":1,"method":"system.ping"}')
            assert orjson.loads(await ws.get_message())["result"] == {"pong": True}
            await trio.sleep(1.0)  # idle for longer than the quiet moment (0.5 s)
            node.proc.send_signal(15)
            with trio.fail_after(10):
                note = orjson.loads(await ws.get_message())
                assert note["method"] == "system.shutdown"
                await ws.send_message('{"jsonrpc":"2.0","id":2,"method":"system.ping"}')
                answer = orjson.loads(await ws.get_message())
                assert answer["id"] == 2 and answer["error"]["code"] == errors.SHUTTING_DOWN
                try:
                    await ws.get_message()
                    raise AssertionError("expected the close")
                except ConnectionClosed as exc:
                    assert exc.reason.code == 1001
        code = await trio.to_thread.run_sync(node.wait, 30)
    finally:
        node.kill()
    assert code == 0, node.log
    assert "stopped gracefully" in node.log.strip().splitlines()[-1]
