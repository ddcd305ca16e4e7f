"""The WebSocket transport: trio-websocket at `/v1`, one `Connection` per client.

Flow control, per connection:

- at most `max_in_flight` requests are handled at once; when that many are running
  the connection stops reading, so TCP pushes back on the client instead of memory
  growing on the server;
- the outbox is bounded the same way: every response is held by the request that
  produced it until it is written, so at most `max_in_flight` responses (plus the
  rare server notification) wait for the socket;
- a client that reads too slowly: when answers are waiting to be written and none has
  gone out for `slow_client_timeout` seconds (checked by a watchdog, so the close comes
  between one and two timeouts after the stall began) the connection is closed with
  1008 and its state dropped. Nothing grows without bound.

Calls of methods registered `inline` (cheap, never blocking: `system.ping`) run in the
reader itself; the rest get a task each, so a slow call does not hold up later ones.

Frames over `max_message_size` (1 MiB) close the connection with 1009 (trio-websocket
does this itself).
"""

from __future__ import annotations

import itertools
import logging
from typing import Any, Awaitable, Callable, Sequence

import attrs
import trio
from trio_websocket import ConnectionClosed, WebSocketConnection, WebSocketRequest, WebSocketServer

from protocol import errors, jsonrpc
from protocol.errors import RpcError

log = logging.getLogger("protocol.transport")

PATH = "/v1"
CLOSE_GOING_AWAY = 1001
CLOSE_POLICY = 1008
SHUTDOWN_ERROR = RpcError(errors.SHUTTING_DOWN, "Server is shutting down")


@attrs.frozen
class TransportLimits:
    max_message_size: int = 1 << 20
    max_in_flight: int = 32
    max_connections: int = 10_000
    message_queue_size: int = 8
    slow_client_timeout: float = 10.0
    handshake_timeout: float = 10.0
    close_timeout: float = 2.0


HandshakeAuth = Callable[[str], Awaitable[Any]]
"""Turns an `Authorization` header value into a principal; raises RpcError to refuse."""


class Connection:
    """One client. Handlers receive it as `ctx`: `principal`, `notify`, `close_after`."""

    _ids = itertools.count(1)

    def __init__(self, ws: WebSocketConnection, gateway: "WebSocketGateway", principal: Any) -> None:
        self.id = next(self._ids)
        self.ws = ws
        self.gateway = gateway
        self.principal = principal
        self.in_flight = 0
        self.last_received = trio.current_time()
        self.closed = False
        self._slots = trio.Semaphore(gateway.limits.max_in_flight)
        self._changed: trio.Event | None = None
        self._nursery: trio.Nursery | None = None
        self._sending = 0  # writes in progress
        self._sent = 0  # writes completed
        self._on_close: list[Callable[[], None]] | None = []  # None once the connection has ended

    async def run(self) -> None:
        engine = self.gateway.engine
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            nursery.start_soon(self._watchdog)
            while True:
                try:
                    data = await self.ws.get_message()
                except ConnectionClosed:
                    break
                self.last_received = trio.current_time()
                if self.gateway.draining:
                    self.in_flight += 1
                    try:
                        await self._send(jsonrpc.reject_frame(data, SHUTDOWN_ERROR))
                    finally:
                        self._done()
                    continue
                parsed = jsonrpc.parse(data)
                self.in_flight += 1
                if engine.runs_inline(parsed):
                    # The reader itself is busy meanwhile: no slot needed.
                    try:
                        await self._send(await engine.respond(parsed, self))
                    finally:
                        self._done()
                    continue
                try:
                    self._slots.acquire_nowait()
                except trio.WouldBlock:
                    await self._slots.acquire()
                nursery.start_soon(self._handle, engine, parsed)
            nursery.cancel_scope.cancel()
        self.closed = True

    async def _handle(self, engine: jsonrpc.Engine, parsed: jsonrpc.Message | list[jsonrpc.Message]) -> None:
        try:
            await self._send(await engine.respond(parsed, self))
        finally:
            self._slots.release()
            self._done()

    def _done(self) -> None:
        self.in_flight -= 1
        self._notify_changed()

    async def _send(self, data: bytes | None) -> None:
        if data is None or self.closed:
            return
        self._sending += 1
        try:
            await self.ws.send_message(data.decode())
        except ConnectionClosed:
            return
        finally:
            self._sending -= 1
            self._sent += 1

    async def _watchdog(self) -> None:
        """Close a connection whose client stopped reading while answers wait for it."""
        period = self.gateway.limits.slow_client_timeout
        seen = self._sent
        was_sending = False
        while True:
            await trio.sleep(period)
            # Stalled: a write was under way at the last tick too and none completed
            # since. (A write that merely started before this tick, after a quiet
            # period, is not a stall: server push makes those common.)
            if self._sending and was_sending and self._sent == seen:
                log.warning("closing connection %s: client reads too slowly", self.id,
                            extra={"event": "ws.slow_client", "conn": self.id})
                await self.close(CLOSE_POLICY, "client reads too slowly")
                return
            seen = self._sent
            was_sending = self._sending > 0

    @property
    def backlog(self) -> int:
        """Frames handed to the connection (answers, notifications) not yet written."""
        return self._sending

    def on_close(self, callback: Callable[[], None]) -> None:
        """Call `callback` once the connection has ended (at once if it has)."""
        if self._on_close is None:
            callback()
        else:
            self._on_close.append(callback)

    def _ended(self) -> None:
        callbacks, self._on_close = self._on_close or [], None
        for callback in callbacks:
            try:
                callback()
            except Exception:
                log.exception("a close callback failed", extra={"event": "ws.close_callback_error"})

    def notify(self, method: str, params: Any) -> None:
        """Send a server notification without blocking the caller."""
        if self._nursery is not None and not self.closed:
            self._nursery.start_soon(self._send, jsonrpc.notification(method, params))

    def close_soon(self, code: int, reason: str, *, after: Sequence[tuple[str, Any]] = ()) -> None:
        """Send `after` notifications, then close with `code`, once the current answers are out."""
        if self._nursery is not None and not self.closed:
            self._nursery.start_soon(self._close_after_answers, code, reason, list(after))

    async def _close_after_answers(self, code: int, reason: str, notes: list[tuple[str, Any]]) -> None:
        # Let the request that asked for the close (and any other running one) answer
        # first, but don't let a busy client hold the close off.
        with trio.move_on_after(self.gateway.limits.close_timeout):
            await trio.lowlevel.checkpoint()
            while self.in_flight:
                await self._wait_changed()
        for method, params in notes:
            await self._send(jsonrpc.notification(method, params))
        await self.close(code, reason)

    async def close_when_idle(self, quiet: float) -> None:
        """Close with 1001 once every request read is answered and the client has been quiet."""
        while True:
            while self.in_flight:
                await self._wait_changed()
            quiet_until = self.last_received + quiet
            if trio.current_time() >= quiet_until and not self.in_flight:
                break
            await trio.sleep_until(quiet_until)
        await self.close(CLOSE_GOING_AWAY, "server shutting down")

    async def close(self, code: int, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        with trio.move_on_after(self.gateway.limits.close_timeout, shield=True):
            await self.ws.aclose(code, reason)
        if self._nursery is not None:
            self._nursery.cancel_scope.cancel()

    def _notify_changed(self) -> None:
        if self._changed is not None:
            self._changed.set()
            self._changed = None

    async def _wait_changed(self) -> None:
        if self._changed is None:
            self._changed = trio.Event()
        await self._changed.wait()


class WebSocketGateway:
    """Accepts WebSocket clients at `/v1` and feeds their frames to the engine."""

    def __init__(
        self,
        engine: jsonrpc.Engine,
        *,
        limits: TransportLimits = TransportLimits(),
        handshake_auth: HandshakeAuth | None = None,
        on_connections_changed: Callable[[int], None] | None = None,
    ) -> None:
        self.engine = engine
        self.limits = limits
        self.handshake_auth = handshake_auth
        self.draining = False
        self.connections: set[Connection] = set()
        self.port: int | None = None
        self._on_connections_changed = on_connections_changed
        self._accept_scope = trio.CancelScope()

    async def serve(self, host: str, port: int, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        """Serve until accepting stops (`stop_accepting`) and every connection has ended."""
        listeners = await trio.open_tcp_listeners(port, host=host)
        self.port = listeners[0].socket.getsockname()[1]
        async with trio.open_nursery() as handlers:
            server = WebSocketServer(
                self._handle,
                listeners,
                handler_nursery=handlers,
                message_queue_size=self.limits.message_queue_size,
                max_message_size=self.limits.max_message_size,
                connect_timeout=self.limits.handshake_timeout,
                disconnect_timeout=self.limits.close_timeout,
            )
            await handlers.start(self._accept, server)
            task_status.started(self.port)

    async def _accept(self, server: WebSocketServer, *, task_status: trio.TaskStatus[None]) -> None:
        with self._accept_scope:
            await server.run(task_status=task_status)

    def stop_accepting(self) -> None:
        self._accept_scope.cancel()

    async def _handle(self, request: WebSocketRequest) -> None:
        """The containment boundary: nothing one connection raises leaves this task
        (it would reach the server's nursery and stop the process)."""
        try:
            await self._serve_request(request)
        except ConnectionClosed:
            pass  # the peer went away mid-handshake or mid-answer: nothing to do
        except Exception:
            log.exception("connection failed", extra={"event": "ws.connection_error"})
        finally:
            # trio-websocket leaves the socket of a rejected handshake open (its
            # aclose() returns early once a close reason is set): close it here.
            with trio.move_on_after(self.limits.close_timeout, shield=True):
                await request._connection._close_stream()

    async def _serve_request(self, request: WebSocketRequest) -> None:
        path = request.path.split("?", 1)[0]
        if path != PATH:
            await request.reject(404, body=b"not found: the WebSocket endpoint is /v1\n")
            return
        if self.draining:
            await request.reject(503, body=b"shutting down\n")
            return
        if len(self.connections) >= self.limits.max_connections:
            log.warning("refusing a connection: %d open", len(self.connections),
                        extra={"event": "ws.refused", "reason": "max_connections"})
            await request.reject(503, body=b"too many connections, retry later\n")
            return
        principal = None
        header = _header(request, b"authorization")
        if header is not None and self.handshake_auth is not None:
            try:
                principal = await self.handshake_auth(header)
            except RpcError as exc:
                await request.reject(401, extra_headers=[(b"content-type", b"text/plain")],
                                     body=exc.message.encode() + b"\n")
                return
        ws = await request.accept()
        conn = Connection(ws, self, principal)
        self.connections.add(conn)
        self._connections_changed()
        log.debug("connection %s opened", conn.id, extra={"event": "ws.open", "conn": conn.id})
        try:
            if self.draining:
                await conn.close(CLOSE_GOING_AWAY, "server shutting down")
            else:
                await conn.run()
        finally:
            conn._ended()
            self.connections.discard(conn)
            self._connections_changed()
            log.debug("connection %s closed", conn.id, extra={"event": "ws.close", "conn": conn.id})

    def _connections_changed(self) -> None:
        if self._on_connections_changed is not None:
            self._on_connections_changed(len(self.connections))

    def begin_shutdown(self) -> None:
        """Stop accepting, answer new requests with -32008, tell every client."""
        self.draining = True
        self.stop_accepting()
        for conn in list(self.connections):
            conn.notify("system.shutdown", {})

    async def drain(self, quiet: float) -> None:
        """Close each connection once it is idle; the caller bounds this with a deadline."""
        async with trio.open_nursery() as nursery:
            for conn in list(self.connections):
                nursery.start_soon(conn.close_when_idle, quiet)

    async def close_all(self) -> None:
        async with trio.open_nursery() as nursery:
            for conn in list(self.connections):
                nursery.start_soon(conn.close, CLOSE_GOING_AWAY, "server shutting down")


def _header(request: WebSocketRequest, name: bytes) -> str | None:
    for key, value in request.headers:
        if key.lower() == name:
            return value.decode("latin-1")
    return None
