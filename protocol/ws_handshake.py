"""The WebSocket opening handshake of one connection, without I/O.

`Opening` wraps the `websockets` library's sans-I/O `ServerProtocol` while it is
CONNECTING: bytes go in with `receive`, and the bytes to write come out of `accept` or
`refuse` (or `answer_bad_request` when the parser gave up). What this module decides on
its own, as plain functions of values: the path, the allowed origins, the `jsonrpc`
subprotocol and the bound on the request's size.

Order of the checks, and the HTTP answer of each: a request that is not HTTP, or is
cut short, 400; larger than `max_request_bytes` or with a header line over 8 KiB, 431;
a wrong path, 404; not a valid WebSocket upgrade, 426 (no Upgrade/Connection headers),
400 (bad key or version) or 405 (not GET); an Origin not allowed, 403; then the caller
adds its own (503 while shutting down or full, 401 for a bad bearer token).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from urllib.parse import urlsplit

import attrs
from websockets.datastructures import MultipleValuesError
from websockets.exceptions import InvalidMessage
from websockets.http11 import Request, Response
from websockets.server import ServerProtocol
from websockets.typing import Subprotocol

PATH = "/v1"
SUBPROTOCOL = Subprotocol("jsonrpc")

# websockets logs "connection open/closed" at INFO for every connection; keep that out.
_quiet = logging.getLogger("protocol.transport.websockets")
_quiet.setLevel(logging.WARNING)


@attrs.frozen
class AllowedOrigins:
    """Which browser origins may open a connection. A request without an Origin header
    (not a browser) is always allowed. `any_origin` is `*`; otherwise the listed
    origins and the gateway's own origin (the Origin's host and port equal the Host
    header, as behind a reverse proxy that serves the page and `/v1` together)."""

    any_origin: bool = False
    origins: frozenset[str] = frozenset()
    sibling_ports: frozenset[int] = frozenset()
    """Ports of pages the gateway serves itself (the admin port's console): an Origin
    on the same host name as the Host header with one of these ports is the gateway's
    own too."""

    @classmethod
    def parse(cls, text: str | None) -> "AllowedOrigins":
        """From `--allowed-origins`: comma-separated origins, `*` for any, empty for
        the same origin only."""
        items = [item.strip() for item in (text or "").split(",") if item.strip()]
        if "*" in items:
            return cls(any_origin=True)
        return cls(origins=frozenset(_normal(item) for item in items))

    def allows(self, origin: str | None, host: str | None) -> bool:
        if origin is None or self.any_origin:
            return True
        normal = _normal(origin)
        if normal in self.origins:
            return True
        if host is None or normal == "null":
            return False
        page = urlsplit(normal)
        if page.netloc == host.strip().lower():
            return True
        if not self.sibling_ports:
            return False
        try:
            return page.port in self.sibling_ports and page.hostname == urlsplit("//" + host.strip().lower()).hostname
        except ValueError:  # a port that is not a number
            return False


def _normal(origin: str) -> str:
    return origin.strip().rstrip("/").lower()


def select_subprotocol(offered: Sequence[str]) -> Subprotocol | None:
    """`jsonrpc` when the client offers it among others; otherwise none (the
    connection still opens: RFC 6455 lets the server pick none of those offered)."""
    return SUBPROTOCOL if SUBPROTOCOL in offered else None


def _select(protocol: ServerProtocol, offered: Sequence[Subprotocol]) -> Subprotocol | None:
    return select_subprotocol(offered)


@attrs.frozen
class Refusal:
    status: int
    text: str


class Opening:
    """One connection's opening handshake. After `receive` returns True: either the
    handshake already ended (`ended`: the parser refused the bytes, or the peer left),
    or `request` is there for the caller to check and then `accept` or `refuse`."""

    __slots__ = ("protocol", "max_request_bytes", "received", "request", "leftover", "peer_eof",
                 "_accept_response", "_tail")

    def __init__(self, *, max_request_bytes: int, max_message_bytes: int) -> None:
        self.protocol = ServerProtocol(subprotocols=[SUBPROTOCOL], select_subprotocol=_select,
                                       max_size=max_message_bytes, logger=_quiet)
        self.max_request_bytes = max_request_bytes
        self.received = 0
        self.request: Request | None = None
        self.leftover = b""  # bytes after the request (frames sent without waiting for the answer)
        self.peer_eof = False
        self._tail = b""  # the last bytes fed, to find the request's end across reads
        self._accept_response: Response | None = None

    def wants(self) -> int:
        """How many bytes to read next: never past `max_request_bytes` in all."""
        return max(1, self.max_request_bytes - self.received)

    @property
    def ended(self) -> bool:
        return self.request is None and self.protocol.eof_sent

    def receive(self, data: bytes) -> bool:
        """Feed what the socket gave (b"" at end of stream); True when there is a
        request to decide on, or nothing more to read."""
        proto = self.protocol
        if not data:
            self.peer_eof = True
            proto.receive_eof()
            return True
        self.received += len(data)
        # The protocol gets the request and nothing after it: frames go to `Messages`,
        # which must find the protocol at a frame boundary.
        seen = self._tail + data
        head_end = seen.find(b"\r\n\r\n")
        if head_end >= 0:
            cut = head_end + 4 - len(self._tail)
            data, self.leftover = data[:cut], data[cut:]
        self._tail = seen[-3:]
        proto.receive_data(data)
        events = proto.events_received()
        if events:
            request = events[0]
            assert isinstance(request, Request)
            self.request = request
            return True
        if proto.eof_sent:
            return True
        if self.received >= self.max_request_bytes:
            proto.send_response(proto.reject(431, "Request header fields too large.\n"))
            return True
        return False

    def check(self, origins: AllowedOrigins, path: str = PATH) -> Refusal | Response | None:
        """The path, the upgrade itself, the origin. None: go on (the caller may still
        refuse); a Refusal or a ready Response: refuse with it."""
        request = self.request
        assert request is not None
        if request.path.split("?", 1)[0] != path:
            return Refusal(404, f"Not found: the WebSocket endpoint is {path}\n")
        response = self.protocol.accept(request)
        if response.status_code != 101:
            return response
        self._accept_response = response
        origin = request.headers.get("Origin")  # given twice: the library refused it above
        if not origins.allows(origin, self.header("Host")):
            return Refusal(403, "Origin not allowed.\n")
        return None

    def header(self, name: str) -> str | None:
        """One request header's value (None when absent or given more than once)."""
        assert self.request is not None
        try:
            return self.request.headers.get(name)
        except MultipleValuesError:
            return None

    def accept(self) -> bytes:
        """The 101 answer; the protocol is then OPEN (and `leftover` holds what came after
        the request)."""
        assert self._accept_response is not None, "check() first"
        return self._send(self._accept_response)

    def refuse(self, refusal: Refusal | Response) -> bytes:
        """The answer that refuses the handshake; the socket is to be closed after it."""
        if isinstance(refusal, Refusal):
            refusal = self.protocol.reject(refusal.status, refusal.text)
        return self._send(refusal)

    def answer_bad_request(self) -> bytes:
        """What to write when the handshake ended on its own: the parser's own answer
        (414, 431), a 400 for bytes that are no HTTP request (the library only closes),
        or nothing when the peer left."""
        proto = self.protocol
        writes = proto.data_to_send()
        out = b"".join(writes)
        if not out and not self.peer_eof and isinstance(proto.handshake_exc, InvalidMessage):
            out = proto.reject(400, "Bad request: not an HTTP/1.1 WebSocket handshake.\n").serialize()
        return out

    def _send(self, response: Response) -> bytes:
        self.protocol.send_response(response)
        return b"".join(self.protocol.data_to_send())
