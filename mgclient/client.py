"""The client an app uses: typed methods, tokens kept fresh, reconnection, notifications.

    async with mgclient.open_client("ws://127.0.0.1:8080/v1") as client:
        await client.auth.login(email="ada@example.com", password="...")
        found = await client.search.query(query="teh matrix", limit=5)
        async for note in client.notifications():
            ...

- Tokens: a successful `auth.login` or `auth.refresh` through the client is kept, and
  the connection is authenticated with it (`auth.authenticate`, the way that works in
  browsers too). Before a call, an access token within `refresh_margin` seconds of
  expiry is refreshed with the refresh token; a call answered -32001 (expired) is
  refreshed and sent once more. Refreshes are serialised (a refresh token is
  single-use). `on_tokens(grant)` hears every new pair, to store it; `auth.logout` and
  a revocation (`auth.revoked`, close 4401) forget them.
- Reconnection: when the connection closes for any reason but `aclose()`, a task
  reconnects with `backoff` and authenticates again. A call waits for the connection
  (up to `connect_wait` seconds); one attempt to connect may take `connect_timeout`
  seconds (a server that accepts TCP but never completes the handshake costs that). A call whose request never left, or that was answered
  -32008 (the node is shutting down, it did nothing), is sent once more on the new
  connection; a call in flight when the connection broke raises `ConnectionClosed`
  (it may or may not have happened). Past the back-off's attempts the client gives
  up: calls raise `TransportError`.
- Notifications: `notifications()` yields every server notification of every
  connection in order (a bounded buffer: the oldest are dropped past INBOX_SIZE).
"""

from __future__ import annotations

import collections
import math
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import trio

from mgclient.backoff import Backoff
from mgclient.connection import INBOX_SIZE, Connection, Notification, connect
from mgclient.errors import AuthRequired, ConnectionClosed, RpcError, ShuttingDown, TransportError
from mgclient.methods import Methods

__all__ = ["Client", "open_client", "CLOSE_REVOKED"]

CLOSE_REVOKED = 4401
_TOKEN_METHODS = frozenset({"auth.login", "auth.refresh"})
_NO_REFRESH = frozenset({"auth.login", "auth.refresh", "auth.authenticate", "auth.register"})


class Client(Methods):
    """See the module docstring. Made by `open_client`."""

    def __init__(self, url: str, *, access_token: str | None = None, refresh_token: str | None = None,
                 backoff: Backoff = Backoff(), refresh_margin: float = 30.0, connect_wait: float = 30.0,
                 connect_timeout: float = 10.0,
                 call_timeout: float = math.inf, subprotocols: Sequence[str] = (),
                 on_tokens: Callable[[dict[str, Any]], None] | None = None) -> None:
        super().__init__(self)
        self.url = url
        self.backoff = backoff
        self.refresh_margin = refresh_margin
        self.connect_wait = connect_wait
        self.connect_timeout = connect_timeout
        self.call_timeout = call_timeout
        self.subprotocols = tuple(subprotocols)
        self.on_tokens = on_tokens
        self.access_token = access_token
        self.refresh_token = refresh_token
        self.expires_at: float | None = None  # trio clock
        self.connections = 0
        """How many connections were opened so far (1 + reconnections)."""
        self.failure: TransportError | None = None
        """Why the client gave up reconnecting, once it has."""
        self._conn: Connection | None = None
        self._changed = trio.Event()
        self._closing = False
        self._refresh_lock = trio.Lock()
        self._inbox: collections.deque[Notification] = collections.deque(maxlen=INBOX_SIZE)
        self._arrived = trio.Event()

    @property
    def connected(self) -> bool:
        """Whether a connection is open now (calls wait for one otherwise)."""
        return self._conn is not None and not self._conn.closed

    # -- calls ------------------------------------------------------------------------

    async def call(self, method: str, params: Any = None) -> Any:
        """One call (see the module docstring for refresh and reconnection)."""
        refreshed = resent = False
        while True:
            conn = await self._connection()
            if method not in _NO_REFRESH:
                await self._refresh_if_due(conn)
            try:
                result = await conn.call(method, params, timeout=self.call_timeout)
            except AuthRequired:
                if refreshed or method in _NO_REFRESH or self.refresh_token is None:
                    raise
                refreshed = True
                await self.refresh(conn)
                continue
            except ShuttingDown:
                if resent:
                    raise
                resent = True
                await self._wait_for_another(conn)
                continue
            except ConnectionClosed as exc:
                if resent or exc.request_sent:
                    raise
                resent = True
                continue
            if method in _TOKEN_METHODS:
                await self._keep_grant(result, conn)
            elif method == "auth.logout":
                # The server closes this connection (4401) right after the answer: the
                # next call goes on the next one.
                self._forget_tokens()
                await self._wait_for_another(conn)
            return result

    async def notify(self, method: str, params: Any = None) -> None:
        await (await self._connection()).notify(method, params)

    async def notifications(self) -> AsyncIterator[Notification]:
        """Every server notification, across reconnections, until `aclose()`."""
        while True:
            while not self._inbox:
                if self._closing:
                    return
                await self._arrived.wait()
            yield self._inbox.popleft()

    # -- tokens -----------------------------------------------------------------------

    async def refresh(self, conn: Connection | None = None) -> None:
        """Rotate the refresh token now and authenticate the connection with the new
        access token."""
        used = self.refresh_token
        async with self._refresh_lock:
            if self.refresh_token != used:
                return  # another task refreshed meanwhile
            if used is None:
                raise AuthRequired(-32001, "no refresh token to renew the session with")
            conn = conn if conn is not None and not conn.closed else await self._connection()
            grant = await conn.call("auth.refresh", {"refresh_token": used}, timeout=self.call_timeout)
            await self._keep_grant(grant, conn)

    async def _refresh_if_due(self, conn: Connection) -> None:
        if (self.expires_at is not None and self.refresh_token is not None
                and self.expires_at - trio.current_time() < self.refresh_margin):
            await self.refresh(conn)

    async def _keep_grant(self, grant: dict[str, Any], conn: Connection) -> None:
        self.access_token = grant["access_token"]
        self.refresh_token = grant["refresh_token"]
        self.expires_at = trio.current_time() + float(grant.get("expires_in", 0))
        if self.on_tokens is not None:
            self.on_tokens(grant)
        await conn.call("auth.authenticate", {"access_token": self.access_token}, timeout=self.call_timeout)

    def _forget_tokens(self) -> None:
        self.access_token = self.refresh_token = self.expires_at = None

    # -- the connection ---------------------------------------------------------------

    async def _connection(self) -> Connection:
        with trio.move_on_after(self.connect_wait):
            while True:
                if self._closing:
                    raise TransportError("the client is closed")
                if self.failure is not None:
                    raise self.failure
                conn = self._conn
                if conn is not None and not conn.closed:
                    return conn
                await self._changed.wait()
        raise TransportError(f"no connection to {self.url} within {self.connect_wait:g} s")

    async def _wait_for_another(self, conn: Connection) -> None:
        with trio.move_on_after(self.connect_wait):
            while self._conn is conn and not self._closing:
                await self._changed.wait()

    def _set(self, conn: Connection | None) -> None:
        self._conn = conn
        self._changed.set()
        self._changed = trio.Event()

    async def _keep_connected(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Connect, authenticate, pass notifications on; when closed, reconnect with back-off."""
        delays = None
        started = False
        while not self._closing:
            try:
                async with connect(self.url, subprotocols=self.subprotocols,
                                   connect_timeout=self.connect_timeout) as conn:
                    self.connections += 1
                    delays = None
                    if self.access_token is not None:
                        await self._authenticate(conn)
                    self._set(conn)
                    if not started:
                        started = True
                        task_status.started()
                    async for note in conn.notifications():
                        self._inbox.append(note)
                        self._arrived.set()
                        self._arrived = trio.Event()
                    if conn.close_code == CLOSE_REVOKED:
                        self._forget_tokens()
            except TransportError as exc:
                if delays is None:
                    delays = self.backoff.delays()
                delay = next(delays, None)
                if delay is None:
                    self.failure = exc
                    self._set(None)
                    if not started:
                        raise
                    return
                self._set(None)
                await trio.sleep(delay)
                continue
            self._set(None)

    async def _authenticate(self, conn: Connection) -> None:
        """Put the kept access token on a new connection, refreshing it when it expired;
        when neither works the session is over (calls needing a user get -32001)."""
        try:
            await self._refresh_if_due(conn)
            await conn.call("auth.authenticate", {"access_token": self.access_token}, timeout=self.call_timeout)
            return
        except AuthRequired:
            pass
        except RpcError:  # revoked, or a refresh token reused: no way back
            self._forget_tokens()
            return
        if self.refresh_token is not None:
            try:
                await self.refresh(conn)
                return
            except RpcError:
                pass
        self._forget_tokens()

    async def aclose(self) -> None:
        self._closing = True
        self._arrived.set()
        conn = self._conn
        self._set(None)
        if conn is not None and not conn.closed:
            with trio.move_on_after(2, shield=True):
                await conn.aclose()


@asynccontextmanager
async def open_client(url: str, **options: Any) -> AsyncIterator[Client]:
    """A `Client` connected to `url` (options: see `Client`); closed when the block
    ends. Raises what the first connection attempt raised if even the back-off's retries
    cannot connect."""
    client = Client(url, **options)
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(client._keep_connected)
            try:
                yield client
            finally:
                await client.aclose()
                nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        leaves = group.exceptions
        while len(leaves) == 1 and isinstance(leaves[0], BaseExceptionGroup):
            leaves = leaves[0].exceptions
        if len(leaves) != 1:
            raise
        raise leaves[0] from None
