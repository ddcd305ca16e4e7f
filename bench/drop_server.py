"""A baseline for one-way traffic: a WebSocket server that reads every message and drops
it, counting them. The text message `count` (on any connection) is answered with the
number of messages dropped so far, so a bench reads the count on the server's side at
the start and end of its window, as it reads the gateway's own counters.

Two stacks: `trio-websocket` (as bench/echo_server.py) and `lean`, the `websockets`
library's sans-I/O `ServerProtocol` on trio streams with one task per connection (the
frame layer of the gateway's own transport, without anything else).
Prints `listening ws=HOST:PORT`.

    .venv/bin/python bench/drop_server.py [trio-websocket|lean] [PORT]
"""

from __future__ import annotations

import sys
from functools import partial

import trio
from trio_websocket import ConnectionClosed, serve_websocket
from websockets.frames import Frame, Opcode
from websockets.http11 import Request
from websockets.server import ServerProtocol

dropped = 0


async def trio_websocket_handler(request) -> None:  # type: ignore[no-untyped-def]
    global dropped
    ws = await request.accept()
    while True:
        try:
            message = await ws.get_message()
        except ConnectionClosed:
            return
        if message == "count":
            await ws.send_message(str(dropped))
        else:
            dropped += 1


async def lean_handler(stream: trio.SocketStream) -> None:
    global dropped
    proto = ServerProtocol(max_size=1 << 20)
    try:
        async with stream:
            while True:
                data = await stream.receive_some(65536)
                if not data:
                    return
                proto.receive_data(data)
                for event in proto.events_received():
                    if isinstance(event, Request):
                        proto.send_response(proto.accept(event))
                    elif isinstance(event, Frame) and event.opcode is Opcode.TEXT:
                        if event.data == b"count":
                            proto.send_text(str(dropped).encode())
                        else:
                            dropped += 1
                for out in proto.data_to_send():
                    if out:
                        await stream.send_all(out)
                if proto.close_expected():
                    return
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass


async def main(stack: str, port: int) -> None:
    async with trio.open_nursery() as nursery:
        if stack == "lean":
            listeners = await nursery.start(partial(trio.serve_tcp, lean_handler, port, host="127.0.0.1"))
            port = listeners[0].socket.getsockname()[1]
        else:
            server = await nursery.start(serve_websocket, trio_websocket_handler, "127.0.0.1", port, None)
            port = server.port
        print(f"listening ws=127.0.0.1:{port}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    try:
        trio.run(main, sys.argv[1] if len(sys.argv) > 1 else "trio-websocket",
                 int(sys.argv[2]) if len(sys.argv) > 2 else 0)
    except KeyboardInterrupt:
        pass
