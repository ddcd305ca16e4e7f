"""The gateway's admin port (HTTP: /healthz, /readyz, /metrics, /console)."""

from __future__ import annotations

from urllib.parse import urlsplit

import trio

__all__ = ["http_get"]

MAX_ANSWER = 16 * 1024 * 1024


async def http_get(url: str) -> tuple[int, bytes]:
    """GET `url` (http://HOST:PORT/path) from the admin port, which closes after each
    answer: (status, body)."""
    parts = urlsplit(url)
    if parts.scheme != "http" or parts.hostname is None or parts.port is None:
        raise ValueError(f"not an http://HOST:PORT/ URL: {url}")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    stream = await trio.open_tcp_stream(parts.hostname, parts.port)
    async with stream:
        await stream.send_all(f"GET {target} HTTP/1.1\r\nHost: {parts.netloc}\r\n\r\n".encode())
        data = b""
        while chunk := await stream.receive_some(65536):
            data += chunk
            if len(data) > MAX_ANSWER:
                raise ValueError(f"answer from {url} larger than {MAX_ANSWER} bytes")
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body
