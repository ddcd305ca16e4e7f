"""One WebSocket connection to the gateway: calls by id, notifications, raw frames.

`connect(url, token=...)` opens it (a task reads every message the server sends);
`call()` sends a request and waits for its answer (many may be in flight at once);
what no call claims (server notifications, and answers to frames sent raw) waits in a
bounded inbox for `notifications()` or `next_message()`. It does not reconnect or
refresh tokens: `mgclient.Client` does, on top of it.
"""

from __future__ import annotations

import collections
import itertools
import math
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, NamedTuple

import orjson
import trio
import trio_websocket

from mgclient.errors import (ConnectionClosed, HandshakeRejected, RpcError, TransportError,
                             Unreachable)

__all__ = ["Connection", "Notification", "connect", "INBOX_SIZE"]

INBOX_SIZE = 10_000
"""Unclaimed messages kept; past it the oldest are dropped (counted in `dropped`)."""
MAX_MESSAGE_SIZE = 64 * 1024 * 1024
CLOSED_ABNORMALLY = 1006


class Notification(NamedTuple):
    """A message the server sent without an id."""

    method: str
    params: Any


class _Waiter:
    __slots__ = ("done", "answer")

    def __init__(self) -> None:
        self.done = trio.Event()
        self.answer: dict[str, Any] | BaseException | None = None


class Connection:
    """An open connection (see the module docstring). Made by `connect`."""

    def __init__(self, ws: trio_websocket.WebSocketConnection, url: str) -> None:
        self.url = url
        self._ws = ws
        self._ids = itertools.count(1)
        self._pending: dict[int, _Waiter] = {}
        self._inbox: collections.deque[Any] = collections.deque()
        self._arrived = trio.Event()
        self._closed = trio.Event()
        self.close_code: int | None = None
        self.close_reason = ""
        self.dropped = 0

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    @property
    def local_address(self) -> str:
        """This end's `host:port` (what the server sees as the peer's address)."""
        local = self._ws.local
        return f"{local.address}:{local.port}" if hasattr(local, "port") else str(local)

    @property
    def subprotocol(self) -> str | None:
        """The subprotocol the server selected, if any."""
        return self._ws.subprotocol

    async def call(self, method: str, params: Any = None, *, timeout: float = math.inf) -> Any:
        """Send a request; return its result or raise its `RpcError` (or a
        `TransportError` when the connection fails first, or trio.TooSlowError)."""
        rid = next(self._ids)
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": rid, "method": method}
        if params is not None:
            message["params"] = params
        waiter = self._pending[rid] = _Waiter()
        try:
            try:
                await self.send_raw(orjson.dumps(message))
            except ConnectionClosed as exc:
                exc.request_sent = False
                raise
            with trio.fail_after(timeout):
                await waiter.done.wait()
        finally:
            self._pending.pop(rid, None)
        answer = waiter.answer
        if isinstance(answer, BaseException):
            raise answer
        assert answer is not None
        if "error" in answer:
            raise RpcError.from_error(answer["error"])
        return answer.get("result")

    async def notify(self, method: str, params: Any = None) -> None:
        """Send a notification (no answer comes back, not even an error)."""
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        await self.send_raw(orjson.dumps(message))

    async def send_raw(self, frame: str | bytes) -> None:
        """Send one text frame as it is (its answers land in the inbox)."""
        if self.closed:
            raise self._closed_error()
        try:
            await self._ws.send_message(frame.decode() if isinstance(frame, bytes) else frame)
        except trio_websocket.ConnectionClosed as exc:
            raise self._closed_error(exc) from None

    async def next_message(self) -> Any:
        """The next message no call claimed (a notification, or an answer to a frame sent
        raw), in arrival order; raises `ConnectionClosed` once closed and drained."""
        while not self._inbox:
            if self.closed:
                raise self._closed_error()
            await self._arrived.wait()
        return self._inbox.popleft()

    async def notifications(self) -> AsyncIterator[Notification]:
        """Server notifications as they arrive, until the connection closes (then the
        iteration ends; `close_code` says how). Other unclaimed messages are skipped."""
        while True:
            try:
                message = await self.next_message()
            except ConnectionClosed:
                return
            if isinstance(message, dict) and "method" in message and "id" not in message:
                yield Notification(message["method"], message.get("params"))

    def buffered(self) -> list[Any]:
        """The unclaimed messages received and not taken yet."""
        return list(self._inbox)

    async def aclose(self, code: int = 1000, reason: str = "") -> None:
        await self._ws.aclose(code, reason)

    # -- the reader -----------------------------------------------------------------

    async def _read(self) -> None:
        try:
            while True:
                text = await self._ws.get_message()
                try:
                    message = orjson.loads(text)
                except orjson.JSONDecodeError:
                    self._push({"unparsable": text if isinstance(text, str) else repr(text)})
                    continue
                for one in message if isinstance(message, list) else [message]:
                    self._dispatch(one)
        except trio_websocket.ConnectionClosed as exc:
            self.close_code = exc.reason.code if exc.reason is not None else CLOSED_ABNORMALLY
            self.close_reason = (exc.reason.reason or "") if exc.reason is not None else ""
        finally:
            if self.close_code is None:
                self.close_code = CLOSED_ABNORMALLY
            self._closed.set()
            for waiter in self._pending.values():
                waiter.answer = self._closed_error()
                waiter.done.set()
            self._wake()

    def _dispatch(self, message: Any) -> None:
        rid = message.get("id") if isinstance(message, dict) else None
        waiter = self._pending.get(rid) if isinstance(rid, int) and "method" not in message else None
        if waiter is not None and not waiter.done.is_set():
            waiter.answer = message
            waiter.done.set()
        else:
            self._push(message)

    def _push(self, message: Any) -> None:
        if len(self._inbox) >= INBOX_SIZE:
            self._inbox.popleft()
            self.dropped += 1
        self._inbox.append(message)
        self._wake()

    def _wake(self) -> None:
        self._arrived.set()
        self._arrived = trio.Event()

    def _closed_error(self, exc: trio_websocket.ConnectionClosed | None = None) -> ConnectionClosed:
        if exc is not None and exc.reason is not None and self.close_code is None:
            return ConnectionClosed(exc.reason.code, exc.reason.reason or "")
        return ConnectionClosed(self.close_code or CLOSED_ABNORMALLY, self.close_reason)


@asynccontextmanager
async def connect(url: str, token: str | None = None, *, headers: Sequence[tuple[str, str]] = (),
                  subprotocols: Sequence[str] = (), connect_timeout: float = 10.0) -> AsyncIterator[Connection]:
    """Open a connection to `url` (ws://HOST:PORT/v1), authenticated on the handshake
    with `token` when given; closed (1000) when the block ends.

    Raises `Unreachable` when nothing answers at the URL, `HandshakeRejected` when the
    server refuses the handshake (its HTTP status and body), `TransportError` for any
    other failure to connect."""
    extra = [("Authorization", f"Bearer {token}")] if token else []
    extra.extend(headers)
    opened = False
    try:
        async with trio.open_nursery() as nursery:
            try:
                with trio.fail_after(connect_timeout):
                    ws = await trio_websocket.connect_websocket_url(
                        nursery, url, extra_headers=[(k.encode(), v.encode()) for k, v in extra] or None,
                        subprotocols=list(subprotocols) or None,
                        max_message_size=MAX_MESSAGE_SIZE, message_queue_size=64)
            except trio.TooSlowError:
                raise Unreachable(f"no answer from {url} within {connect_timeout:g} s") from None
            opened = True
            conn = Connection(ws, url)
            nursery.start_soon(conn._read)
            try:
                yield conn
            finally:
                with trio.CancelScope(shield=True), trio.move_on_after(2):
                    await ws.aclose()
                nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        # The nursery wraps what the block or trio-websocket's reader raised; the caller
        # wants it as is.
        leaf = _single_leaf(group)
        if leaf is None:
            raise
        raise (leaf if opened else _connect_error(leaf, url)) from None
    except Exception as exc:
        if opened:
            raise
        raise _connect_error(exc, url) from None


def _single_leaf(group: BaseExceptionGroup) -> BaseException | None:
    leaves = [e for e in _leaves(group) if not isinstance(e, trio.Cancelled)]
    return leaves[0] if len(leaves) == 1 else None


def _leaves(group: BaseExceptionGroup) -> list[BaseException]:
    out: list[BaseException] = []
    for exc in group.exceptions:
        out.extend(_leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc])
    return out


def _connect_error(exc: BaseException, url: str) -> BaseException:
    """What a failure to open the connection means, in words."""
    if isinstance(exc, TransportError):
        return exc
    if isinstance(exc, trio_websocket.ConnectionRejected):
        body = (exc.body or b"").decode("utf-8", "replace").strip()
        return HandshakeRejected(url, exc.status_code, body)
    if isinstance(exc, trio_websocket.ConnectionTimeout):
        return Unreachable(f"no answer from {url}")
    if isinstance(exc, trio_websocket.HandshakeError):
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, OSError):
            return Unreachable(f"cannot reach {url}: {_os_error(cause)}")
        return TransportError(f"the WebSocket handshake with {url} failed: {exc or cause or type(exc).__name__}")
    if isinstance(exc, OSError):
        return Unreachable(f"cannot reach {url}: {_os_error(exc)}")
    if isinstance(exc, ValueError):  # a malformed URL
        return TransportError(f"bad URL {url!r}: {exc}")
    return exc


def _os_error(exc: OSError) -> str:
    return exc.strerror or str(exc) or type(exc).__name__
