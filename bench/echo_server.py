"""The baseline: a bare trio-websocket echo server. Prints `listening ws=HOST:PORT`."""

from __future__ import annotations

import sys

import trio
from trio_websocket import ConnectionClosed, serve_websocket


async def echo(request) -> None:  # type: ignore[no-untyped-def]
    ws = await request.accept()
    while True:
        try:
            await ws.send_message(await ws.get_message())
        except ConnectionClosed:
            return


async def main(port: int) -> None:
    async with trio.open_nursery() as nursery:
        server = await nursery.start(serve_websocket, echo, "127.0.0.1", port, None)
        print(f"listening ws=127.0.0.1:{server.port}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    try:
        trio.run(main, int(sys.argv[1]) if len(sys.argv) > 1 else 0)
    except KeyboardInterrupt:
        pass
