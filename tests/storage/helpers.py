"""Test helpers: a TCP proxy that can cut a database off, and polling."""

from __future__ import annotations

from collections.abc import Callable

import trio


class TcpProxy:
    """Forwards ``127.0.0.1:port`` to a target, so a test can take the target away
    (`cut`: the listener and every forwarded connection close, as when a server
    stops) and bring it back (`restore`: listen again on the same port) without
    touching the shared server; `stall` stops forwarding bytes (a hung network)."""

    def __init__(self, nursery: trio.Nursery, target_host: str, target_port: int) -> None:
        self._nursery = nursery
        self._target = (target_host, target_port)
        self._scope: trio.CancelScope | None = None
        self._flowing = trio.Event()
        self._flowing.set()
        self.port = 0

    async def start(self) -> None:
        self._flowing.set()
        self._scope = await self._nursery.start(self._serve, self.port)

    def cut(self) -> None:
        assert self._scope is not None
        self._scope.cancel()
        self._scope = None

    async def restore(self) -> None:
        await self.start()

    def stall(self) -> None:
        self._flowing = trio.Event()

    async def _serve(self, port: int, *, task_status: trio.TaskStatus[trio.CancelScope]) -> None:
        with trio.CancelScope() as scope:
            listeners = await trio.open_tcp_listeners(port, host="127.0.0.1")
            self.port = listeners[0].socket.getsockname()[1]
            async with trio.open_nursery() as nursery:
                task_status.started(scope)
                await trio.serve_listeners(self._handle, listeners, handler_nursery=nursery)

    async def _handle(self, client: trio.SocketStream) -> None:
        try:
            server = await trio.open_tcp_stream(*self._target)
        except OSError:
            await client.aclose()
            return
        async with client, server:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._pipe, client, server, nursery.cancel_scope)
                nursery.start_soon(self._pipe, server, client, nursery.cancel_scope)

    async def _pipe(
        self, source: trio.SocketStream, sink: trio.SocketStream, scope: trio.CancelScope
    ) -> None:
        try:
            while data := await source.receive_some(65536):
                await self._flowing.wait()
                await sink.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        scope.cancel()


async def eventually(predicate: Callable[[], bool], *, timeout: float = 10.0) -> None:
    """Wait until ``predicate()`` holds, polling under a deadline (for effects that
    happen in another process, where there is nothing to wait on directly)."""
    with trio.fail_after(timeout):
        while not predicate():
            await trio.sleep(0.02)
