"""A small JSON-RPC client over trio-websocket, used by `main.py call`, tests and benchmarks."""

from __future__ import annotations

import argparse
import itertools
import os
import re
import sys
from typing import Any

import orjson
import trio
from trio_websocket import WebSocketConnection, open_websocket_url


class RpcClientError(Exception):
    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(f"{error.get('code')}: {error.get('message')}")
        self.code = error.get("code")
        self.message = error.get("message")
        self.data = error.get("data")


class Client:
    """Sequential calls on one connection; server notifications are kept in `notifications`."""

    def __init__(self, ws: WebSocketConnection) -> None:
        self.ws = ws
        self._ids = itertools.count(1)
        self.notifications: list[dict[str, Any]] = []

    async def call(self, method: str, params: Any = None) -> Any:
        rid = next(self._ids)
        msg: dict[str, Any] = {"jsonrpc": "2.0", "id": rid, "method": method}
        if params is not None:
            msg["params"] = params
        await self.ws.send_message(orjson.dumps(msg).decode())
        while True:
            answer = orjson.loads(await self.ws.get_message())
            if isinstance(answer, dict) and "method" in answer and "id" not in answer:
                self.notifications.append(answer)
                continue
            if answer.get("id") != rid:
                continue
            if "error" in answer:
                raise RpcClientError(answer["error"])
            return answer["result"]

    async def notify(self, method: str, params: Any = None) -> None:
        msg: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            msg["params"] = params
        await self.ws.send_message(orjson.dumps(msg).decode())


async def http_get(url: str) -> tuple[int, bytes]:
    """A minimal HTTP/1.1 GET of the admin port (which closes after each answer): (status, body)."""
    m = re.match(r"http://([\d.]+):(\d+)(/.*)", url)
    assert m
    stream = await trio.open_tcp_stream(m.group(1), int(m.group(2)))
    async with stream:
        await stream.send_all(f"GET {m.group(3)} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        data = b""
        while chunk := await stream.receive_some(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def default_url() -> str:
    host = os.environ.get("MG_HOST") or "127.0.0.1"
    port = os.environ.get("MG_PORT") or "8080"
    return f"ws://{host}:{port}/v1"


def run_call(args: argparse.Namespace) -> int:
    try:
        params = orjson.loads(args.params) if args.params else None
    except orjson.JSONDecodeError as exc:
        print(f"params are not valid JSON: {exc}", file=sys.stderr)
        return 2
    headers = [("Authorization", f"Bearer {args.token}")] if args.token else None

    async def go() -> int:
        with trio.fail_after(args.timeout):
            async with open_websocket_url(args.url or default_url(), extra_headers=headers) as ws:
                try:
                    result = await Client(ws).call(args.method, params)
                except RpcClientError as exc:
                    err = {"code": exc.code, "message": exc.message}
                    if exc.data is not None:
                        err["data"] = exc.data
                    print(orjson.dumps({"error": err}, option=orjson.OPT_INDENT_2).decode(), file=sys.stderr)
                    return 1
                print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
                return 0

    try:
        return trio.run(go)
    except (OSError, trio.TooSlowError) as exc:
        print(f"call failed: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # handshake refused and the like
        print(f"call failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
