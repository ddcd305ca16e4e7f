"""Bytes a WebSocket client sends, built by hand so tests can also build wrong ones."""

from __future__ import annotations

import os
import struct

KEY = "dGhlIHNhbXBsZSBub25jZQ=="


def handshake(path: str = "/v1", *extra: str, key: str = KEY, upgrade: bool = True) -> bytes:
    lines = [f"GET {path} HTTP/1.1", "Host: gw.example:8080"]
    if upgrade:
        lines += ["Upgrade: websocket", "Connection: Upgrade", f"Sec-WebSocket-Key: {key}",
                  "Sec-WebSocket-Version: 13"]
    lines += list(extra)
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def frame(opcode: int, payload: bytes = b"", *, fin: bool = True, mask: bool = True, rsv: int = 0,
          key: bytes | None = None) -> bytes:
    """One client frame: masked unless told otherwise (with `key`, default random; a key
    of four zero bytes leaves the payload as it is, quick for big frames); `rsv` sets
    the reserved bits (0-7)."""
    head = (0x80 if fin else 0) | (rsv << 4) | opcode
    n = len(payload)
    if n < 126:
        header = struct.pack("!BB", head, (0x80 if mask else 0) | n)
    elif n < 65536:
        header = struct.pack("!BBH", head, (0x80 if mask else 0) | 126, n)
    else:
        header = struct.pack("!BBQ", head, (0x80 if mask else 0) | 127, n)
    if not mask:
        return header + payload
    key = os.urandom(4) if key is None else key
    if key == bytes(4):
        return header + key + payload
    return header + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def text(payload: bytes | str, **kw: object) -> bytes:
    return frame(0x1, payload.encode() if isinstance(payload, str) else payload, **kw)  # type: ignore[arg-type]


def close_code(data: bytes) -> int | None:
    """The code of the first server close frame (unmasked) in `data`, if any."""
    i = 0
    while i + 2 <= len(data):
        opcode, n = data[i] & 0x0F, data[i + 1] & 0x7F
        i += 2
        if n == 126:
            n = struct.unpack("!H", data[i:i + 2])[0]
            i += 2
        elif n == 127:
            n = struct.unpack("!Q", data[i:i + 8])[0]
            i += 8
        if opcode == 0x8:
            return struct.unpack("!H", data[i:i + 2])[0] if n >= 2 else 1005
        i += n
    return None
