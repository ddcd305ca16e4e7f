"""A WebSocket client written by hand, so a test decides every byte on the wire.

The hostile suite needs what no well-behaved library sends: unmasked frames, reserved
bits and opcodes, control frames that break the rules, headers that never end. The
codec (`encode_frame`, `FrameParser`, `upgrade_request`) is pure: bytes in, values out.
`RawClient` puts it on a blocking socket with a timeout on every read, so a test never
hangs on a server that stays silent (it fails with `socket.timeout` instead).
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import socket
import struct
import time
from typing import Any, Iterable, Iterator

import attrs
import orjson

CONT, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
KEY = "dGhlIHNhbXBsZSBub25jZQ=="


def encode_frame(opcode: int, payload: bytes = b"", *, fin: bool = True, rsv: int = 0,
                 mask: bool = True, length: int | None = None) -> bytes:
    """One frame. `rsv` is the three reserved bits (0..7); `length` overrides the
    declared payload length (a lie the server must not trust)."""
    size = len(payload) if length is None else length
    head = bytearray([(0x80 if fin else 0) | (rsv & 7) << 4 | (opcode & 0xF)])
    bit = 0x80 if mask else 0
    if size < 126:
        head.append(bit | size)
    elif size < 1 << 16:
        head.append(bit | 126)
        head += struct.pack("!H", size)
    else:
        head.append(bit | 127)
        head += struct.pack("!Q", size)
    if not mask:
        return bytes(head) + payload
    key = os.urandom(4)
    return bytes(head) + key + _xor(payload, key)


def _xor(payload: bytes, key: bytes) -> bytes:
    if not payload:
        return b""
    n = len(payload)
    stream = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(stream, "big")).to_bytes(n, "big")


def close_payload(code: int | None, reason: bytes = b"") -> bytes:
    return b"" if code is None else struct.pack("!H", code) + reason


@attrs.frozen
class Frame:
    fin: bool
    rsv: int
    opcode: int
    payload: bytes
    masked: bool

    @property
    def close_code(self) -> int | None:
        """The status code of a close frame (1005, "none given", for an empty one)."""
        assert self.opcode == CLOSE
        return struct.unpack("!H", self.payload[:2])[0] if len(self.payload) >= 2 else 1005

    def json(self) -> Any:
        return orjson.loads(self.payload)


class FrameParser:
    """Frames from a byte stream, fed in any pieces."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[Frame]:
        self._buf += data
        frames = []
        while (frame := self._next()) is not None:
            frames.append(frame)
        return frames

    def _next(self) -> Frame | None:
        buf = self._buf
        if len(buf) < 2:
            return None
        b0, b1 = buf[0], buf[1]
        size, at = b1 & 0x7F, 2
        if size == 126:
            if len(buf) < 4:
                return None
            size, at = struct.unpack("!H", buf[2:4])[0], 4
        elif size == 127:
            if len(buf) < 10:
                return None
            size, at = struct.unpack("!Q", buf[2:10])[0], 10
        masked = bool(b1 & 0x80)
        key = bytes(buf[at:at + 4]) if masked else b""
        at += 4 if masked else 0
        if len(buf) < at + size:
            return None
        payload = bytes(buf[at:at + size])
        del buf[:at + size]
        if masked:
            payload = _xor(payload, key)
        return Frame(bool(b0 & 0x80), (b0 >> 4) & 7, b0 & 0xF, payload, masked)


def upgrade_request(path: str = "/v1", *, http: str = "HTTP/1.1", key: str | None = KEY,
                    version: str | None = "13", headers: Iterable[tuple[str, str]] = (),
                    host: str = "127.0.0.1") -> bytes:
    """A WebSocket upgrade request; `key=None` or `version=None` leaves that header out."""
    lines = [f"GET {path} {http}", f"Host: {host}", "Upgrade: websocket", "Connection: Upgrade"]
    if key is not None:
        lines.append(f"Sec-WebSocket-Key: {key}")
    if version is not None:
        lines.append(f"Sec-WebSocket-Version: {version}")
    lines += [f"{name}: {value}" for name, value in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def random_key() -> str:
    return base64.b64encode(os.urandom(16)).decode()


@attrs.frozen
class HttpAnswer:
    status: int
    head: bytes
    body: bytes


class Closed(Exception):
    """The server closed the TCP connection."""


class RawClient:
    """A blocking client on a real socket. Every read waits at most `timeout` seconds."""

    _ids = itertools.count(1)

    def __init__(self, host: str, port: int, *, timeout: float = 10.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.timeout = timeout
        self._parser = FrameParser()
        self._frames: list[Frame] = []
        self._rest = b""
        self.notifications: list[dict[str, Any]] = []
        self._early: dict[Any, Any] = {}
        self.eof = False

    # -- opening -------------------------------------------------------------------

    @classmethod
    def open(cls, url: str, token: str | None = None, *, timeout: float = 10.0,
             headers: Iterable[tuple[str, str]] = ()) -> "RawClient":
        """Connect and upgrade at `url` (ws://host:port/path); fails unless answered 101."""
        host, port, path = split_url(url)
        client = cls(host, port, timeout=timeout)
        extra = list(headers) + ([("Authorization", f"Bearer {token}")] if token else [])
        client.sendall(upgrade_request(path, key=random_key(), headers=extra))
        answer = client.read_http()
        if answer.status != 101:
            client.close()
            raise ConnectionError(f"upgrade refused: {answer.head[:200]!r}")
        return client

    def read_http(self) -> HttpAnswer:
        """One HTTP response head (and a body of Content-Length bytes, if any)."""
        data = self._rest
        while b"\r\n\r\n" not in data:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise Closed(f"closed before an HTTP answer: {data[:200]!r}")
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        status = int(head.split(b" ", 2)[1])
        if status == 101:
            self._frames += self._parser.feed(rest)
            self._rest = b""
            return HttpAnswer(status, head, b"")
        while len(rest) < length:
            chunk = self.sock.recv(65536)
            if not chunk:
                break
            rest += chunk
        self._rest = rest[length:]
        return HttpAnswer(status, head, rest[:length])

    # -- sending -------------------------------------------------------------------

    def sendall(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send_frame(self, opcode: int, payload: bytes = b"", **options: Any) -> None:
        self.sock.sendall(encode_frame(opcode, payload, **options))

    def send_text(self, text: str | bytes) -> None:
        self.send_frame(TEXT, text.encode() if isinstance(text, str) else text)

    def send_json(self, doc: Any) -> None:
        try:
            text = orjson.dumps(doc)
        except TypeError:  # an integer past 64 bits: the standard library writes any
            text = json.dumps(doc, allow_nan=False).encode()
        self.send_text(text)

    # -- receiving -----------------------------------------------------------------

    def recv_frame(self, timeout: float | None = None) -> Frame:
        """The next frame; `Closed` when the server ends TCP first."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while not self._frames:
            if self.eof:
                raise Closed("the server closed the connection")
            self._receive(deadline, "no frame in time")
        return self._frames.pop(0)

    def _receive(self, deadline: float, late: str) -> None:
        """Read what has come (frames, or the end of TCP) by `deadline`, else time out."""
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout(late)
        self.sock.settimeout(left)
        try:
            chunk = self.sock.recv(1 << 20)
        except ConnectionResetError:
            chunk = b""
        if chunk:
            self._frames += self._parser.feed(chunk)
        else:
            self.eof = True

    def messages(self, timeout: float | None = None) -> Iterator[Frame]:
        """Data frames; answers the server's pings; stops at a close frame (yielded)."""
        while True:
            frame = self.recv_frame(timeout)
            if frame.opcode == PING:
                self.send_frame(PONG, frame.payload)
                continue
            yield frame
            if frame.opcode == CLOSE:
                return

    def answer(self, rid: Any, timeout: float | None = None) -> Any:
        """The response whose id is `rid`, or an error with id null (the answer to a
        frame whose id could not be read), or a batch answer (a list). Notifications
        meanwhile go to `notifications`."""
        if rid in self._early:
            return self._early.pop(rid)
        for frame in self.messages(timeout):
            if frame.opcode == CLOSE:
                raise Closed(f"closed with {frame.close_code} while waiting for id {rid!r}")
            doc = frame.json()
            if isinstance(doc, dict) and "id" not in doc and "method" in doc:
                self.notifications.append(doc)
                continue
            if isinstance(doc, list):
                return doc
            if isinstance(doc, dict) and (doc.get("id") == rid or (doc.get("id") is None and "error" in doc)):
                return doc
            if isinstance(doc, dict) and isinstance(doc.get("id"), (str, int)):
                self._early[doc["id"]] = doc  # pipelined answers may come in any order
        raise Closed("closed while waiting for an answer")

    def call(self, method: str, params: Any = None, *, timeout: float | None = None) -> dict[str, Any]:
        """One request; the whole response object (result or error)."""
        rid = next(self._ids)
        doc: dict[str, Any] = {"jsonrpc": "2.0", "id": rid, "method": method}
        if params is not None:
            doc["params"] = params
        self.send_json(doc)
        return self.answer(rid, timeout)

    def result(self, method: str, params: Any = None) -> Any:
        """The result of a call that must succeed."""
        answer = self.call(method, params)
        assert "result" in answer, answer
        return answer["result"]

    def close_frame(self, timeout: float | None = None) -> Frame | None:
        """Read until the server's close frame (returned) or the end of TCP (None),
        skipping data frames."""
        try:
            for frame in self.messages(timeout):
                if frame.opcode == CLOSE:
                    return frame
        except Closed:
            return None
        return None

    def wait_eof(self, timeout: float | None = None) -> None:
        """Read and drop everything until the server ends TCP."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while not self.eof:
            self._frames.clear()
            self._receive(deadline, "the server kept the connection open")
        self._frames.clear()

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self) -> "RawClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def split_url(url: str) -> tuple[str, int, str]:
    """ws://host:port/path -> (host, port, path)."""
    rest = url.split("://", 1)[1]
    hostport, _, path = rest.partition("/")
    host, _, port = hostport.rpartition(":")
    return host, int(port), "/" + path
