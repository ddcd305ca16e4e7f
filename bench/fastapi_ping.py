"""The alternative a user would pick: FastAPI + uvicorn[standard] answering the same
JSON-RPC `system.ping` over a WebSocket at /v1. Prints `listening ws=HOST:PORT`.

    .venv/bin/python bench/fastapi_ping.py [PORT [WORKERS]]   (needs the `bench` extra)

With WORKERS > 1, uvicorn's own supervisor runs that many processes on the socket.
"""

from __future__ import annotations

import socket
import sys

import orjson
import uvicorn
from fastapi import FastAPI, WebSocket, WebSocketDisconnect

app = FastAPI()


@app.websocket("/v1")
async def v1(ws: WebSocket) -> None:
    await ws.accept()
    try:
        while True:
            msg = orjson.loads(await ws.receive_text())
            answer = {"jsonrpc": "2.0", "id": msg.get("id"), "result": {"pong": True}}
            await ws.send_text(orjson.dumps(answer).decode())
    except WebSocketDisconnect:
        pass


def main(port: int = 0, workers: int = 1) -> None:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(2048)
    print(f"listening ws=127.0.0.1:{sock.getsockname()[1]}", file=sys.stderr, flush=True)
    if workers > 1:
        from uvicorn.supervisors import Multiprocess

        config = uvicorn.Config("fastapi_ping:app", log_level="warning", lifespan="off", workers=workers)
        Multiprocess(config, sockets=[sock]).run()
        return
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    server.run(sockets=[sock])


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
