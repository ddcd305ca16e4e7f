"""The admin HTTP port: `/healthz`, `/readyz`, `/metrics` (HTTP/1.1 via h11).

Routes are a table (`add_route`), so pages such as a console can be added beside them.
Each connection answers one request and closes. Bounded like the WebSocket port:
a request larger than 16 KiB gets 431, bytes that are no HTTP request get 400, a
request not received within `request_timeout` is closed, at most `max_connections`
are served at once (past that a socket gets a 503 and is closed), and nothing one
connection raises leaves its task.
"""

from __future__ import annotations

import inspect
import logging
import os
import socket
from typing import Awaitable, Callable

import h11
import trio

from protocol.linger import linger
from protocol.logthrottle import LogThrottle
from protocol.console import Console

log = logging.getLogger("protocol.admin")

MAX_REQUEST_BYTES = 16 * 1024
REASONS = {200: b"OK", 400: b"Bad Request", 404: b"Not Found", 405: b"Method Not Allowed",
           431: b"Request Header Fields Too Large", 503: b"Service Unavailable"}
TEXT = b"text/plain; charset=utf-8"
BUSY = (b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\ncontent-length: 5\r\n"
        b"connection: close\r\n\r\nbusy\n")

Answer = tuple[int, bytes, bytes]
"""An answer: status, content type, body."""

Route = Callable[[h11.Request], Answer | Awaitable[Answer]]
"""A page: sync, or async when it must ask elsewhere (the main process of
`serve --workers N` asks its workers)."""


class AdminServer:
    def __init__(self, *, ready: Callable[[], bool], metrics: Callable[[], bytes],
                 console: Console | None = None, max_connections: int = 64,
                 request_timeout: float = 10.0) -> None:
        self._ready = ready
        self._metrics = metrics
        self._console = console
        self.max_connections = max_connections
        self.request_timeout = request_timeout
        self.port: int | None = None
        self.routes: dict[bytes, Route] = {
            b"/healthz": lambda request: (200, TEXT, b"ok\n"),
            b"/readyz": self._readyz,
            b"/metrics": lambda request: (200, b"text/plain; version=0.0.4; charset=utf-8", self._metrics()),
        }
        self._open = 0
        self._throttle = LogThrottle()

    def add_route(self, path: str, route: Route) -> None:
        """Serve GET/HEAD `path` (query string ignored) with `route`."""
        self.routes[path.encode()] = route

    async def serve(self, host: str, port: int, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        listeners = await trio.open_tcp_listeners(port, host=host)
        self.port = listeners[0].socket.getsockname()[1]
        async with trio.open_nursery() as nursery:
            await nursery.start(trio.serve_listeners, self._handle, listeners)
            task_status.started(self.port)

    async def serve_unix(self, path: str, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Serve on a Unix socket at `path` (mode 0600): a worker's private port, which
        the main process of `serve --workers N` scrapes."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(path)
            os.chmod(path, 0o600)
            sock.listen(self.max_connections)
        except BaseException:
            sock.close()
            raise
        listeners = [trio.SocketListener(trio.socket.from_stdlib_socket(sock))]
        async with trio.open_nursery() as nursery:
            await nursery.start(trio.serve_listeners, self._handle, listeners)
            task_status.started()

    def _readyz(self, request: h11.Request) -> Answer:
        if self._ready():
            return 200, TEXT, b"ready\n"
        return 503, TEXT, b"not ready\n"

    def _route(self, request: h11.Request) -> Answer | Awaitable[Answer]:
        if request.method not in (b"GET", b"HEAD"):
            return 405, TEXT, b"method not allowed\n"
        path = request.target.split(b"?", 1)[0]
        route = self.routes.get(path)
        if route is not None:
            return route(request)
        if self._console is not None and (answer := self._console.route(path.decode("latin-1"))) is not None:
            return answer
        return 404, TEXT, b"not found\n"

    async def _handle(self, stream: trio.SocketStream) -> None:
        """The containment boundary of one admin connection."""
        try:
            if self._open >= self.max_connections:
                with trio.move_on_after(1):
                    await stream.send_all(BUSY)
                return
            self._open += 1
            try:
                with trio.move_on_after(self.request_timeout):
                    await self._answer(stream)
            finally:
                self._open -= 1
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        except Exception:
            if (dropped := self._throttle.allow("admin.error", trio.current_time())) is not None:
                log.exception("admin request failed (%d more not logged)", dropped, extra={"event": "admin.error"})
        finally:
            with trio.move_on_after(1, shield=True):
                await stream.aclose()

    async def _answer(self, stream: trio.SocketStream) -> None:
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_REQUEST_BYTES)
        while True:
            try:
                event = conn.next_event()
            except h11.RemoteProtocolError as exc:
                status = exc.error_status_hint
                await self._send(stream, conn, None, (status, TEXT, REASONS.get(status, b"bad request").lower() + b"\n"))
                await linger(stream)
                return
            if event is h11.NEED_DATA:
                data = await stream.receive_some(4096)
                conn.receive_data(data)
                if not data and conn.their_state is h11.IDLE and not conn.trailing_data[0]:
                    return  # connected and left without a word
                continue
            if isinstance(event, h11.Request):
                answer = self._route(event)
                if inspect.isawaitable(answer):
                    answer = await answer
                await self._send(stream, conn, event, answer)
            return

    @staticmethod
    async def _send(stream: trio.SocketStream, conn: h11.Connection, request: h11.Request | None,
                    answer: Answer) -> None:
        status, ctype, body = answer
        headers = [("content-type", ctype), ("content-length", str(len(body))), ("connection", "close")]
        out = conn.send(h11.Response(status_code=status, headers=headers, reason=REASONS.get(status, b"")))
        if request is None or request.method != b"HEAD":
            out += conn.send(h11.Data(data=body))
        out += conn.send(h11.EndOfMessage())
        await stream.send_all(out)
