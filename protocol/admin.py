"""The admin HTTP port: `/healthz`, `/readyz`, `/metrics`, `/console` (HTTP/1.1 via h11)."""

from __future__ import annotations

import logging
from typing import Callable

import h11
import trio

from protocol.console import Console

log = logging.getLogger("protocol.admin")

MAX_REQUEST_BYTES = 16 * 1024
REASONS = {200: b"OK", 404: b"Not Found", 405: b"Method Not Allowed", 503: b"Service Unavailable"}


class AdminServer:
    def __init__(self, *, ready: Callable[[], bool], metrics: Callable[[], bytes],
                 console: Console | None = None) -> None:
        self._ready = ready
        self._metrics = metrics
        self._console = console
        self.port: int | None = None

    async def serve(self, host: str, port: int, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        listeners = await trio.open_tcp_listeners(port, host=host)
        self.port = listeners[0].socket.getsockname()[1]
        async with trio.open_nursery() as nursery:
            await nursery.start(trio.serve_listeners, self._handle, listeners)
            task_status.started(self.port)

    def _route(self, method: bytes, target: bytes) -> tuple[int, bytes, bytes]:
        path = target.split(b"?", 1)[0]
        if method not in (b"GET", b"HEAD"):
            return 405, b"text/plain", b"method not allowed\n"
        if path == b"/healthz":
            return 200, b"text/plain", b"ok\n"
        if path == b"/readyz":
            if self._ready():
                return 200, b"text/plain", b"ready\n"
            return 503, b"text/plain", b"not ready\n"
        if path == b"/metrics":
            return 200, b"text/plain; version=0.0.4; charset=utf-8", self._metrics()
        if self._console is not None and (answer := self._console.route(path.decode("latin-1"))) is not None:
            return answer
        return 404, b"text/plain", b"not found\n"

    async def _handle(self, stream: trio.SocketStream) -> None:
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_REQUEST_BYTES)
        try:
            with trio.move_on_after(10):
                while True:
                    event = conn.next_event()
                    if event is h11.NEED_DATA:
                        data = await stream.receive_some(4096)
                        conn.receive_data(data)
                        if not data:
                            return
                        continue
                    if isinstance(event, h11.Request):
                        status, ctype, body = self._route(event.method, event.target)
                        headers = [("content-type", ctype), ("content-length", str(len(body))), ("connection", "close")]
                        await stream.send_all(conn.send(h11.Response(status_code=status, headers=headers, reason=REASONS.get(status, b""))))
                        if event.method != b"HEAD":
                            await stream.send_all(conn.send(h11.Data(data=body)))
                        await stream.send_all(conn.send(h11.EndOfMessage()))
                    return
        except (h11.RemoteProtocolError, trio.BrokenResourceError, trio.ClosedResourceError):
            return
        finally:
            with trio.move_on_after(1, shield=True):
                await stream.aclose()
