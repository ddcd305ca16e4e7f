"""End to end over real sockets: the transport, bad input, the admin port."""

from __future__ import annotations

import contextlib

import orjson
import pytest
import trio
from trio_websocket import ConnectionClosed, ConnectionRejected, open_websocket_url

from protocol import errors
from tests.support import connect, http_get, raw_call


async def test_ping_and_health(gateway) -> None:
    async with connect(gateway.url) as client:
        assert await client.call("system.ping") == {"pong": True}
        health = await client.call("system.health")
        assert health["status"] == "ok" and health["version"]


async def test_discover_lists_registered_methods(gateway) -> None:
    async with connect(gateway.url) as client:
        doc = await client.call("rpc.discover")
    names = {m["name"] for m in doc["methods"]}
    assert {"system.ping", "system.health", "rpc.discover"} <= names
    assert doc["openrpc"].startswith("1.")


async def test_bad_input_never_kills_the_connection(gateway) -> None:
    async with open_websocket_url(gateway.url) as ws:
        assert (await raw_call(ws, "{not json"))["error"]["code"] == errors.PARSE_ERROR
        assert (await raw_call(ws, '"just a string"'))["error"]["code"] == errors.INVALID_REQUEST
        assert (await raw_call(ws, '{"jsonrpc":"2.0","id":1,"method":"nope.nothing"}'))["error"]["code"] == errors.METHOD_NOT_FOUND
        answer = await raw_call(ws, '{"jsonrpc":"2.0","id":2,"method":"system.ping","params":{"x":1}}')
        assert answer["error"]["code"] == errors.INVALID_PARAMS
        assert answer["error"]["data"]["errors"][0]["field"] == "x"
        assert (await raw_call(ws, '{"jsonrpc":"2.0","id":3,"method":"system.ping","params":7}'))["error"]["code"] == errors.INVALID_REQUEST
        assert (await raw_call(ws, "[]"))["error"]["code"] == errors.INVALID_REQUEST
        # (A binary frame closes with 1003 since the transport rewrite: tests/e2e/test_ws_edges.py.)
        batch = await raw_call(ws, '[{"jsonrpc":"2.0","id":5,"method":"system.ping"},{"jsonrpc":"2.0","method":"system.ping"},1]')
        assert [a.get("id") for a in batch] == [5, None]
        assert (await raw_call(ws, '{"jsonrpc":"2.0","id":6,"method":"system.ping"}'))["result"] == {"pong": True}


async def test_oversized_frame_closes_with_1009_and_the_server_lives_on(gateway) -> None:
    async with open_websocket_url(gateway.url) as ws:
        with pytest.raises(ConnectionClosed) as info:
            with trio.fail_after(10):
                # The server may close while the frame is still going out.
                await ws.send_message("x" * (2 << 20))
                await ws.get_message()
        assert info.value.reason.code == 1009
    async with connect(gateway.url) as client:
        assert await client.call("system.ping") == {"pong": True}


async def test_frame_just_under_the_limit_is_answered(gateway) -> None:
    padding = "y" * ((1 << 20) - 200)
    frame = orjson.dumps({"jsonrpc": "2.0", "id": 1, "method": "system.ping", "params": {"pad": padding}})
    assert len(frame) <= 1 << 20
    async with open_websocket_url(gateway.url) as ws:
        answer = await raw_call(ws, frame)
        assert answer["error"]["code"] == errors.INVALID_PARAMS


async def test_wrong_path_is_refused(gateway) -> None:
    with pytest.raises(ConnectionRejected) as info:
        async with open_websocket_url(gateway.url.replace("/v1", "/v2")):
            pass
    assert info.value.status_code == 404


async def test_pipelined_requests_all_answered(gateway) -> None:
    async with open_websocket_url(gateway.url) as ws:
        for i in range(200):
            await ws.send_message(orjson.dumps({"jsonrpc": "2.0", "id": i, "method": "system.ping"}).decode())
        ids = set()
        with trio.fail_after(10):
            while len(ids) < 200:
                ids.add(orjson.loads(await ws.get_message())["id"])
    assert ids == set(range(200))


async def test_admin_endpoints(gateway) -> None:
    assert await http_get(gateway.admin + "/healthz") == (200, b"ok\n")
    assert (await http_get(gateway.admin + "/readyz"))[0] == 200
    async with connect(gateway.url) as client:
        await client.call("system.ping")
        status, body = await http_get(gateway.admin + "/metrics")
        assert status == 200
        text = body.decode()
        assert "mg_ws_connections 1.0" in text
    assert 'mg_rpc_requests_total{method="system.ping",outcome="ok"} 1.0' in text
    assert "mg_rpc_latency_seconds_bucket" in text
    assert (await http_get(gateway.admin + "/nope"))[0] == 404


async def test_graceful_shutdown_in_process(gateway) -> None:
    async with open_websocket_url(gateway.url) as ws:
        assert (await raw_call(ws, '{"jsonrpc":"2.0","id":1,"method":"system.ping"}'))["result"]
        gateway.app.request_shutdown()
        note = orjson.loads(await ws.get_message())
        assert note == {"jsonrpc": "2.0", "method": "system.shutdown", "params": {}}
        assert (await http_get(gateway.admin + "/readyz"))[0] == 503
        late = await raw_call(ws, '{"jsonrpc":"2.0","id":2,"method":"system.ping"}')
        assert late["error"]["code"] == errors.SHUTTING_DOWN
        with pytest.raises(ConnectionClosed) as info:
            with trio.fail_after(10):
                await ws.get_message()
        assert info.value.reason.code == 1001
    with trio.fail_after(10):
        while gateway.exit_code is None:
            await trio.sleep(0.01)
    assert gateway.exit_code == 0


async def test_a_client_that_stops_reading_is_cut_off(nursery, tmp_path) -> None:
    from gateway.app import App
    from tests.conftest import make_config

    app = App(make_config(tmp_path, slow_client_timeout=0.5))
    ws_port, _ = await nursery.start(app.run)
    url = f"ws://127.0.0.1:{ws_port}/v1"
    frame = '{"jsonrpc":"2.0","id":1,"method":"rpc.discover"}'
    # trio-websocket's client queues one message and then stops reading the socket,
    # so the server's answers pile up until the kernel buffers are full.
    with trio.fail_after(30):
        async with open_websocket_url(url, message_queue_size=1) as ws, trio.open_nursery() as flooding:

            async def flood() -> None:
                with contextlib.suppress(ConnectionClosed):
                    while True:
                        await ws.send_message(frame)

            flooding.start_soon(flood)
            while not (app.gateway.connections and all(c.closed for c in app.gateway.connections)):
                await trio.sleep(0.01)
            # The server gave up on the client and is closing. Reading again now lets the
            # answers that were waiting through, then the close frame and its code.
            with pytest.raises(ConnectionClosed) as info:
                while True:
                    await ws.get_message()
            assert info.value.reason.code == 1008  # policy violation: reads too slowly
    assert app.gateway.connections == set() or all(c.closed for c in app.gateway.connections)
    async with connect(url) as client:
        assert await client.call("system.ping") == {"pong": True}
    app.request_shutdown()


async def test_connections_past_the_limit_are_refused(nursery, tmp_path) -> None:
    import attrs

    from gateway.app import App
    from tests.conftest import make_config

    app = App(make_config(tmp_path))
    app.gateway.limits = attrs.evolve(app.gateway.limits, max_connections=2)
    ws_port, _ = await nursery.start(app.run)
    url = f"ws://127.0.0.1:{ws_port}/v1"
    async with connect(url) as first, connect(url) as second:
        with pytest.raises(ConnectionRejected) as info:
            async with open_websocket_url(url):
                pass
        assert info.value.status_code == 503
        assert await first.call("system.ping") == await second.call("system.ping") == {"pong": True}
    with trio.fail_after(5):  # the server side of a close finishes just after the client's
        while app.gateway.connections:
            await trio.sleep(0.01)
    async with connect(url) as again:  # room again once they closed
        assert await again.call("system.ping") == {"pong": True}
    app.request_shutdown()
