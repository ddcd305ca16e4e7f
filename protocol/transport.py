"""The WebSocket transport: `/v1` on trio streams, one task per connection.

The WebSocket protocol itself is the `websockets` library's sans-I/O `ServerProtocol`
(framing with C speedups, ping/pong, the close handshake, 1002 for malformed frames,
1009 past the message size); the handshake rules are in `ws_handshake`, message
assembly and the partial-message budget in `ws_messages`, the rate limit in
`ratelimit`. This module is the I/O around them: each connection is one task that
reads, feeds the protocol, dispatches, and writes the answers of one read in one send.

Flow control, per connection:

- at most `max_in_flight` requests are handled at once; when that many are running
  the connection stops reading, so TCP pushes back on the client instead of memory
  growing on the server. Calls of methods registered `inline` (answered from memory:
  `system.ping`, `content.list`) run in the reader itself; the rest get a task each;
- one writer at a time: answers queue in an outbox that is written as one send; the
  outbox holds at most what `max_in_flight` requests answer plus one read's inline
  answers (written whenever they pass 64 KiB); server notifications beyond
  `max_outbox_bytes` waiting for a client that does not read close it with 1008;
- a client that reads too slowly: when a write has not finished between two checks
  `slow_client_timeout` apart (so the close comes between one and two timeouts after
  the stall began) the connection is closed with 1008 and its state dropped;
- a message begun and not finished within `message_timeout` closes with 1008; bytes
  held for unfinished messages count against one process-wide budget (1009 past it);
- `rate` requests per second after a `burst` (a batch counts its members): requests
  over it are answered -32006 with `data.retry_after`, notifications dropped.

Containment: every connection's task is the boundary. Whatever its handshake, a frame,
a handler or a write raises is answered or closed there and logged (with the peer's
address, at most a few lines per kind every ten seconds); it never reaches the server's
nursery. Every socket is closed when its task ends, a refused handshake included.
"""

from __future__ import annotations

import collections
import ctypes
import ctypes.util
import itertools
import logging
import os
import struct
from functools import partial
from typing import Any, Awaitable, Callable, Sequence

import attrs
import trio
from websockets.protocol import State
from websockets.server import ServerProtocol

from protocol import errors, jsonrpc
from protocol.audit import Audit
from protocol.errors import RpcError
from protocol.linger import linger
from protocol.listeners import open_shared_listeners
from protocol.logthrottle import LogThrottle
from protocol.ratelimit import TokenBucket
from protocol.ws_handshake import PATH, AllowedOrigins, Opening, Refusal
from protocol.ws_messages import (
    CLOSE_INVALID_DATA,
    CLOSE_POLICY,
    Messages,
    PartialBudget,
    Refused,
    is_utf8,
)

__all__ = ["PATH", "AllowedOrigins", "Connection", "TransportLimits", "WebSocketGateway"]

log = logging.getLogger("protocol.transport")

CLOSE_GOING_AWAY = 1001
CLOSE_INTERNAL_ERROR = 1011
SHUTDOWN_ERROR = RpcError(errors.SHUTTING_DOWN, "Server is shutting down")
INTERNAL_ERROR = RpcError(errors.INTERNAL_ERROR, "Internal error")
RECEIVE_SIZE = 65536
FLUSH_AT = 65536  # inline answers of one read are written once they pass this

_OPEN = State.OPEN
_Invalid = jsonrpc.Invalid


@attrs.frozen
class TransportLimits:
    max_message_size: int = 1 << 20
    max_in_flight: int = 32
    max_connections: int = 10_000
    max_handshakes: int = 1_000
    """Handshakes in progress at once; a socket past it is closed unread."""
    slow_client_timeout: float = 10.0
    handshake_timeout: float = 10.0
    max_handshake_bytes: int = 16 * 1024
    close_timeout: float = 2.0
    max_partial_bytes: int = 64 << 20
    message_timeout: float = 15.0
    rate: float = 100.0
    """Requests per second per connection after the burst (0: no limit)."""
    burst: int = 200
    max_outbox_bytes: int = 1 << 20


HandshakeAuth = Callable[[str], Awaitable[Any]]
"""Turns an `Authorization` header value into a principal; raises RpcError to refuse."""


def _libc_malloc_trim() -> Callable[[int], int] | None:
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim  # type: ignore[no-any-return]
    except (OSError, AttributeError):
        return None  # not glibc: nothing to do


_malloc_trim = _libc_malloc_trim()
TRIM_AFTER = 16 << 20  # bytes of unfinished messages given back before memory is returned to the OS


async def _receive(fd: int) -> bytes:
    """One read of up to RECEIVE_SIZE bytes (b"" at the end of the stream).

    On the socket's descriptor rather than through trio's SocketStream, which first tries
    a read that finds nothing (the next request of a client waiting for an answer is
    never there yet), then waits, reads again and yields to the scheduler once more: one
    wait and one read here. The wait is the reader's checkpoint."""
    while True:
        await trio.lowlevel.wait_readable(fd)
        try:
            return os.read(fd, RECEIVE_SIZE)
        except BlockingIOError:
            continue


async def _send_all(fd: int, data: bytes) -> None:
    """Write all of `data`: at once when the socket has room (no scheduler round trip,
    unlike SocketStream.send_all), else waiting until it has."""
    sent = os.write(fd, data)  # OSError (a reset, a closed pipe) goes to the caller
    if sent == len(data):
        return
    view = memoryview(data)
    while sent < len(view):
        await trio.lowlevel.wait_writable(fd)
        try:
            sent += os.write(fd, view[sent:])
        except BlockingIOError:
            pass


def _text_header(n: int) -> bytes:
    """The header of an unmasked, unfragmented text frame of `n` bytes (RFC 6455 5.2):
    built here rather than through `ServerProtocol.send_text`, which costs a Frame object,
    its checks and a BytesIO per answer."""
    if n < 126:
        return bytes((0x81, n))
    if n < 65536:
        return struct.pack("!BBH", 0x81, 126, n)
    return struct.pack("!BBQ", 0x81, 127, n)


class Connection:
    """One client. Handlers receive it as `ctx`: `principal` (settable), `notify`,
    `close_soon`, `closed`, `id`."""

    __slots__ = ("id", "stream", "proto", "gateway", "principal", "peer", "in_flight", "last_received",
                 "closed", "_messages", "_bucket", "_out", "_out_bytes", "_queued", "_sent", "_writes",
                 "_seen", "_writing", "_final", "_eof_sent", "_tasks", "_changed", "_nursery",
                 "_flush_pending", "_fd", "_on_close", "__weakref__")

    _ids = itertools.count(1)

    def __init__(self, stream: trio.SocketStream, proto: ServerProtocol, gateway: "WebSocketGateway",
                 principal: Any, peer: str, leftover: bytes = b"") -> None:
        now = trio.current_time()
        limits = gateway.limits
        self.id = next(Connection._ids)
        self.stream = stream
        self._fd = stream.socket.fileno()
        self.proto = proto
        self.gateway = gateway
        self.principal = principal
        self.peer = peer
        self.in_flight = 0  # requests read and not yet answered
        self.last_received = now
        self.closed = False  # no more requests are taken once set
        self._messages = Messages(proto, gateway.budget, max_size=limits.max_message_size, pending=leftover)
        self._bucket = TokenBucket(limits.rate, limits.burst, now)
        self._out: list[bytes] = []  # frames waiting for the writer
        self._out_bytes = 0
        self._queued = 0  # answers put in _out, ever
        self._sent = 0  # of those, written
        self._writes = 0  # completed writes (the slow-reader check)
        self._seen = -1  # _writes at the last check while a write was under way
        self._writing = False
        self._final = False  # the close frame has been handed to the socket
        self._eof_sent = False
        self._tasks = 0  # requests running in tasks of their own
        self._changed: trio.Event | None = None
        self._nursery: trio.Nursery | None = None
        self._flush_pending = False
        self._on_close: list[Callable[[], None]] | None = []  # None once the connection has ended

    @property
    def backlog(self) -> int:
        """Frames handed to the connection (answers, notifications) not yet written."""
        return self._queued - self._sent

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
                self.gateway.note_error(self, "running a close callback")

    # ------------------------------------------------------------------ reading

    async def run(self) -> None:
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                if self.gateway.draining:  # the handshake finished as shutdown began
                    nursery.start_soon(self.close, CLOSE_GOING_AWAY, "server shutting down")
                try:
                    await self._read()
                finally:
                    self._abort()  # ends the handlers, and wakes a close() waiting for this
        finally:
            self._messages.release()
            self._ended()

    async def _read(self) -> None:
        messages = self._messages
        fd = self._fd
        limits = self.gateway.limits
        data = b""  # what came with the handshake is already in `messages`
        while True:
            now = trio.current_time()
            received, refused = messages.receive(data)
            for message in received:
                if self.closed:
                    break  # closing: later requests are not taken
                await self._on_message(message, now)
                if self._out_bytes > FLUSH_AT:
                    await self._flush()
            if refused is None:
                try:
                    messages.hold(now)
                except Refused as too_much:
                    refused = too_much
            if refused is not None:
                self._fail(refused.code, refused.reason)
            await self._flush()
            if self._eof_sent:
                break
            try:
                if messages.since is None:
                    data = await _receive(fd)
                else:
                    data = None
                    with trio.move_on_at(messages.since + limits.message_timeout):
                        data = await _receive(fd)
                    if data is None:
                        self._fail(CLOSE_POLICY, "message not finished in time")
                        await self._flush()
                        break
            except (OSError, trio.ClosedResourceError):
                return  # reset by the peer, or closed here
            if not data:
                return  # the peer closed: nothing is sent to a closed socket
        await linger(self.stream, limits.close_timeout)

    async def _on_message(self, data: bytes, now: float) -> None:
        self.last_received = now
        gateway = self.gateway
        if gateway.draining:
            self._queue(jsonrpc.reject_frame(data, SHUTDOWN_ERROR))
            return
        parsed = jsonrpc.parse(data)
        if parsed.__class__ is _Invalid and parsed.error.code == errors.PARSE_ERROR and not is_utf8(data):
            self._fail(CLOSE_INVALID_DATA, "invalid UTF-8 in a text message")
            return
        wait = self._bucket.take(now, len(parsed) if parsed.__class__ is list else 1)
        if wait:
            self._over_rate(parsed, wait)
            return
        engine = gateway.engine
        if engine.runs_inline(parsed):
            # The reader itself is busy meanwhile: no slot needed.
            self.in_flight += 1
            try:
                self._queue(await engine.respond(parsed, self))
            except Exception:
                gateway.note_error(self, "answering a request")
                self._queue(jsonrpc.reject(parsed, INTERNAL_ERROR))
            finally:
                self._done()
            return
        if self._tasks >= gateway.limits.max_in_flight:
            await self._flush()
            while self._tasks >= gateway.limits.max_in_flight:
                await self._wait_changed()
        self._tasks += 1
        self.in_flight += 1
        assert self._nursery is not None
        self._nursery.start_soon(self._handle, parsed)

    def _over_rate(self, parsed: jsonrpc.Message | list[jsonrpc.Message], wait: float) -> None:
        members = parsed if isinstance(parsed, list) else [parsed]
        notes = sum(1 for m in members if isinstance(m, jsonrpc.Call) and m.notification)
        self.gateway.count("rate_limited", "notification", notes)
        self.gateway.count("rate_limited", "request", len(members) - notes)
        error = RpcError(errors.OVERLOADED, "Rate limit exceeded, retry later", errors.retry_after(wait))
        self._queue(jsonrpc.reject(parsed, error))

    async def _handle(self, parsed: jsonrpc.Message | list[jsonrpc.Message]) -> None:
        try:
            try:
                answer = await self.gateway.engine.respond(parsed, self)
            except Exception:
                self.gateway.note_error(self, "answering a request")
                answer = jsonrpc.reject(parsed, INTERNAL_ERROR)
            self._queue(answer)
            await self._flush()
        finally:
            self._tasks -= 1
            self._done()

    def _done(self) -> None:
        self.in_flight -= 1
        self._notify_changed()

    def _fail(self, code: int, reason: str) -> None:
        """Close at once for something the client sent (a close frame, then the socket)."""
        self.closed = True
        if not self.proto.eof_sent:
            self.proto.fail(code, reason)
        self.gateway.count("closed", str(code))

    # ------------------------------------------------------------------ writing

    def _queue(self, answer: bytes | None) -> None:
        if answer is None or self._final:
            return
        n = len(answer)
        self._out.append(_text_header(n))
        self._out.append(answer)
        self._out_bytes += n
        self._queued += 1

    async def _flush(self) -> None:
        """Write what is queued (answers, then the protocol's own frames: pongs, close),
        in one send. One writer at a time: a caller that finds a write under way waits
        until that writer has sent what it had queued."""
        if self._writing:
            target = self._queued
            while self._writing and self._sent < target:
                await self._wait_changed()
            return
        proto = self.proto
        self._writing = True
        try:
            while True:
                closing = proto.close_sent is not None
                writes = proto.data_to_send()
                out = self._out
                if not out and not writes:
                    break
                upto = self._queued
                self._out = []
                self._out_bytes = 0
                eof = False
                if writes:
                    if not writes[-1]:  # SEND_EOF: half-close after the rest
                        eof = True
                        writes.pop()
                    out += writes
                if out:
                    await _send_all(self._fd, out[0] if len(out) == 1 else b"".join(out))
                self._sent = upto
                self._writes += 1
                if closing:
                    self._final = True
                if eof:
                    self._final = True
                    self._eof_sent = True
                    await self.stream.send_eof()
                    break
                self._notify_changed()
        except (OSError, trio.BrokenResourceError, trio.ClosedResourceError):
            self._abort()  # the peer is gone
        finally:
            self._writing = False
            self._notify_changed()

    async def _flush_soon(self) -> None:
        self._flush_pending = False
        await self._flush()

    def notify(self, method: str, params: Any) -> None:
        """Send a server notification without blocking the caller."""
        if self.closed or self._final or self._nursery is None:
            return
        if self._out_bytes > self.gateway.limits.max_outbox_bytes:  # the client does not read
            self._nursery.start_soon(self.close, CLOSE_POLICY, "client reads too slowly")
            return
        self._queue(jsonrpc.notification(method, params))
        if not self._writing and not self._flush_pending:
            self._flush_pending = True
            self._nursery.start_soon(self._flush_soon)

    # ------------------------------------------------------------------ closing

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
            self._queue(jsonrpc.notification(method, params))
        await self.close(code, reason)

    async def close_when_idle(self, quiet: float, since: float) -> None:
        """Close with 1001 once every request read is answered and the client has been
        quiet for `quiet` seconds, counted from its last message or from `since` (when
        shutdown began), whichever is later."""
        while True:
            while self.in_flight:
                await self._wait_changed()
            quiet_until = max(self.last_received, since) + quiet
            if trio.current_time() >= quiet_until and not self.in_flight:
                break
            await trio.sleep_until(quiet_until)
        await self.close(CLOSE_GOING_AWAY, "server shutting down")

    async def close(self, code: int, reason: str, *, deadline: float | None = None) -> None:
        """Send a close frame after what is queued; the connection ends when the client
        answers it, or after `close_timeout` (or at `deadline`) regardless."""
        if self.closed:
            return
        self.closed = True
        self.gateway.count("closed", str(code))
        if self.proto.state is _OPEN:
            self.proto.send_close(code, reason)
        until = trio.current_time() + self.gateway.limits.close_timeout
        with trio.move_on_at(until if deadline is None else min(until, deadline), shield=True):
            await self._flush()
            while self._nursery is not None and not self._nursery.cancel_scope.cancel_called:
                await self._wait_changed()
        self._abort()

    def _abort(self) -> None:
        self.closed = True
        if self._nursery is not None:
            self._nursery.cancel_scope.cancel()
        self._notify_changed()

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
        origins: AllowedOrigins = AllowedOrigins(),
        on_connections_changed: Callable[[int], None] | None = None,
        audit: Audit | None = None,
    ) -> None:
        self.engine = engine
        self.limits = limits
        self.handshake_auth = handshake_auth
        self.origins = origins
        self.draining = False
        self.connections: set[Connection] = set()
        self.port: int | None = None
        self.budget = PartialBudget(limits.max_partial_bytes)
        self.counts: collections.Counter[tuple[str, str]] = collections.Counter()
        """Events by (kind, label): handshakes refused by status, closes by code, requests over the rate."""
        self._handshaking = 0
        self._shutdown_began: float | None = None
        self._on_connections_changed = on_connections_changed
        self._accept_scope = trio.CancelScope()
        self._throttle = LogThrottle()
        self.audit = audit if audit is not None else Audit()

    # ------------------------------------------------------------------ serving

    async def serve(self, host: str, port: int, *, shared: bool = False,
                    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        """Serve until accepting stops (`stop_accepting`) and every connection has ended.
        `shared`: join the port's SO_REUSEPORT group (one of `serve --workers N`)."""
        self.budget.limit = self.limits.max_partial_bytes
        listeners = await (open_shared_listeners(host, port) if shared else trio.open_tcp_listeners(port, host=host))
        self.port = listeners[0].socket.getsockname()[1]
        async with trio.open_nursery() as handlers:
            await handlers.start(self._accept, listeners, handlers)
            task_status.started(self.port)

    async def _accept(self, listeners: list[trio.SocketListener], handlers: trio.Nursery, *,
                      task_status: trio.TaskStatus[None]) -> None:
        with self._accept_scope:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._watch_writers)
                nursery.start_soon(self._return_memory)
                await nursery.start(partial(trio.serve_listeners, handler_nursery=handlers), self._handle, listeners)
                task_status.started()

    def stop_accepting(self) -> None:
        self._accept_scope.cancel()

    async def _return_memory(self) -> None:
        """glibc keeps freed heap pages for reuse: after unfinished messages of many
        connections were dropped (16 MiB or more, or any amount once none is held any
        more), give the pages back (malloc_trim), at most once a second."""
        budget = self.budget
        while True:
            await trio.sleep(1.0)
            if budget.released >= TRIM_AFTER or (budget.released > 0 and budget.held == 0):
                budget.released = 0
                if _malloc_trim is not None:
                    _malloc_trim(0)

    async def _watch_writers(self) -> None:
        """Close connections whose client stopped reading while a write waits for it."""
        period = self.limits.slow_client_timeout
        while True:
            await trio.sleep(period)
            for conn in list(self.connections):
                stalled, mark = write_stalled(conn._writing, conn._writes, conn._seen)
                if stalled and not conn.closed:
                    self.log(logging.WARNING, "ws.slow_client", "closing connection %s from %s: client reads too slowly",
                             conn.id, conn.peer)
                    if conn._nursery is not None:
                        conn._nursery.start_soon(conn.close, CLOSE_POLICY, "client reads too slowly")
                conn._seen = mark

    async def _handle(self, stream: trio.SocketStream) -> None:
        """The containment boundary: nothing one connection raises leaves this task
        (it would reach the server's nursery and stop the process)."""
        peer = _peer(stream)
        try:
            if self._handshaking >= self.limits.max_handshakes:
                self.count("handshake_refused", "too_many_handshakes")
                self.log(logging.WARNING, "ws.refused", "closing a socket from %s: %d handshakes in progress",
                         peer, self._handshaking)
                return
            self._handshaking += 1
            try:
                accepted = await self._handshake(stream, peer)
            finally:
                self._handshaking -= 1
            if accepted is not None:
                await self._serve_connection(stream, peer, *accepted)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass  # the peer went away mid-handshake or mid-answer: nothing to do
        except Exception:
            self.log(logging.ERROR, "ws.connection_error", "connection from %s failed", peer, exc_info=True)
        finally:
            with trio.move_on_after(self.limits.close_timeout, shield=True):
                await stream.aclose()

    async def _handshake(self, stream: trio.SocketStream, peer: str) -> tuple[ServerProtocol, bytes, Any] | None:
        limits = self.limits
        opening = Opening(max_request_bytes=limits.max_handshake_bytes, max_message_bytes=limits.max_message_size)
        with trio.move_on_after(limits.handshake_timeout):
            while not opening.receive(await stream.receive_some(opening.wants())):
                pass
            if opening.ended:
                answer = opening.answer_bad_request()
                if answer:
                    self._refused(peer, int(answer.split(b" ", 2)[1]))
                    await stream.send_all(answer)
                    await linger(stream, limits.close_timeout)
                return None
            refusal = opening.check(self.origins)
            if refusal is None:
                if self.draining:
                    refusal = Refusal(503, "Shutting down.\n")
                elif len(self.connections) >= limits.max_connections:
                    self.log(logging.WARNING, "ws.refused", "refusing a connection from %s: %d open",
                             peer, len(self.connections))
                    refusal = Refusal(503, "Too many connections, retry later.\n")
            principal = None
            if refusal is None:
                header = opening.header("Authorization")
                if header is not None and self.handshake_auth is not None:
                    try:
                        principal = await self.handshake_auth(header)
                    except RpcError as exc:
                        refusal = Refusal(401, exc.message + "\n")
            if refusal is not None:
                answer = opening.refuse(refusal)
                self._refused(peer, refusal.status if isinstance(refusal, Refusal) else refusal.status_code)
                await stream.send_all(answer)
                return None
            await stream.send_all(opening.accept())
            return opening.protocol, opening.leftover, principal
        self.count("handshake_refused", "timeout")
        self.log(logging.INFO, "ws.handshake_timeout", "closing a socket from %s: no handshake within %.0f s",
                 peer, limits.handshake_timeout)
        return None

    def _refused(self, peer: str, status: int) -> None:
        """Count a refused handshake and write its audit line (the audit log is rate-limited)."""
        self.count("handshake_refused", str(status))
        reason = _REFUSAL_REASONS.get(status, "refused")
        if status == 503:
            reason = "shutting_down" if self.draining else "too_many_connections"
        self.audit.handshake_refused(peer, status, reason)

    async def _serve_connection(self, stream: trio.SocketStream, peer: str, proto: ServerProtocol,
                                leftover: bytes, principal: Any) -> None:
        conn = Connection(stream, proto, self, principal, peer, leftover)
        self.connections.add(conn)
        self._connections_changed()
        log.debug("connection %s opened from %s", conn.id, peer, extra={"event": "ws.open", "conn": conn.id})
        try:
            await conn.run()
        finally:
            conn._ended()
            self.connections.discard(conn)
            self._connections_changed()
            log.debug("connection %s closed", conn.id, extra={"event": "ws.close", "conn": conn.id})

    def _connections_changed(self) -> None:
        if self._on_connections_changed is not None:
            self._on_connections_changed(len(self.connections))

    # ------------------------------------------------------------------ accounting

    def count(self, kind: str, label: str, n: int = 1) -> None:
        if n:
            self.counts[kind, label] += n

    def log(self, level: int, event: str, msg: str, *args: Any, exc_info: bool = False) -> None:
        """A log line that a flood of clients cannot turn into a flood of lines."""
        dropped = self._throttle.allow(event, trio.current_time())
        if dropped is None:
            return
        if dropped:
            msg += " (%d more like this not logged)"
            args += (dropped,)
        log.log(level, msg, *args, exc_info=exc_info, extra={"event": event})

    def note_error(self, conn: Connection, doing: str) -> None:
        self.log(logging.ERROR, "ws.internal_error", "connection %s from %s: error %s", conn.id, conn.peer, doing,
                 exc_info=True)

    # ------------------------------------------------------------------ shutdown

    def begin_shutdown(self) -> None:
        """Stop accepting, answer new requests with -32008, tell every client."""
        self.draining = True
        self._shutdown_began = trio.current_time()
        self.stop_accepting()
        for conn in list(self.connections):
            conn.notify("system.shutdown", {})

    async def drain(self, quiet: float, deadline: float | None = None) -> None:
        """Close each connection with 1001 once it is idle (see `close_when_idle`), and
        the rest at `deadline`: a client that never stops talking is closed then, which
        is the normal end of a drain, not a failure."""
        since = self._shutdown_began if self._shutdown_began is not None else trio.current_time()
        if deadline is None:
            deadline = float("inf")
        # Leave time before the deadline for the close handshakes of the rest.
        grace = min(self.limits.close_timeout, max(0.0, deadline - trio.current_time()) / 4)
        with trio.move_on_at(deadline - grace):
            async with trio.open_nursery() as nursery:
                for conn in list(self.connections):
                    nursery.start_soon(conn.close_when_idle, quiet, since)
        await self.close_all(deadline=deadline)

    async def close_all(self, *, deadline: float | None = None) -> None:
        async with trio.open_nursery() as nursery:
            for conn in list(self.connections):
                nursery.start_soon(lambda c=conn: c.close(CLOSE_GOING_AWAY, "server shutting down", deadline=deadline))


_REFUSAL_REASONS = {400: "bad_request", 401: "invalid_token", 403: "origin_not_allowed", 404: "wrong_path",
                    405: "method_not_allowed", 426: "upgrade_required", 431: "request_too_large"}


def write_stalled(writing: bool, writes: int, seen: int) -> tuple[bool, int]:
    """The slow-reader check at one watchdog tick: (stalled, the mark to keep as `seen`).

    Stalled means a write was under way at the last tick too and none completed since
    (`writes` counts completed writes). A write that merely started before this tick,
    after a quiet period, is not a stall: server push makes those common."""
    mark = writes if writing else -1
    return mark >= 0 and mark == seen, mark


def _peer(stream: trio.SocketStream) -> str:
    try:
        host, port = stream.socket.getpeername()[:2]
    except (OSError, ValueError):
        return "?"
    return f"{host}:{port}"
