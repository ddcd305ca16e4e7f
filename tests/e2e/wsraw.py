"""Raw sockets against a real gateway: bytes a WebSocket library would not send, and
the health checks the hostile groups end with (alive, a ping answered, open files
and RSS of the process)."""

from __future__ import annotations

import os

import trio

from tests.protocol.wsbytes import close_code, handshake
from tests.support import GatewayProcess, connect


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/", 1)[0])


def open_files(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


async def read_all(stream: trio.SocketStream, timeout: float = 10.0) -> bytes:
    """Everything until the server closes the socket (a reset counts as the end)."""
    data = b""
    with trio.fail_after(timeout):
        try:
            while chunk := await stream.receive_some(65536):
                data += chunk
        except trio.BrokenResourceError:
            pass
    return data


async def opened(port: int, *extra: str) -> trio.SocketStream:
    """A socket past a successful handshake."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    await stream.send_all(handshake("/v1", *extra))
    head = b""
    with trio.fail_after(10):
        while b"\r\n\r\n" not in head:
            chunk = await stream.receive_some(1)
            assert chunk, head
            head += chunk
    assert head.startswith(b"HTTP/1.1 101"), head
    return stream


async def answer_to(port: int, data: bytes, *, timeout: float = 10.0) -> bytes:
    """Send `data` on a new socket and read to the end: what the server answers."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        return await _send_then_read(stream, data, timeout)


async def close_code_after(port: int, data: bytes, *, timeout: float = 10.0) -> tuple[int | None, bytes]:
    """Open a connection, send `data`, read to the end: the server's close code."""
    stream = await opened(port)
    async with stream:
        received = await _send_then_read(stream, data, timeout)
    return close_code(received), received


async def _send_then_read(stream: trio.SocketStream, data: bytes, timeout: float) -> bytes:
    try:
        await stream.send_all(data)
    except trio.BrokenResourceError:
        pass  # the server closed first: its answer may still be there to read
    return await read_all(stream, timeout)


RSS_SLACK = 64 << 20
"""How far a hostile group may leave the process's RSS above where it began."""


async def healthy(node: GatewayProcess, baseline_files: int, baseline_rss: int | None = None, *,
                  files_slack: int = 4) -> None:
    """The process lives, answers a ping, its open files come back near the baseline,
    and its RSS stays within RSS_SLACK of the baseline's."""
    assert node.proc.poll() is None, node.log
    async with connect(node.url) as client:
        assert await client.call("system.ping") == {"pong": True}
    with trio.fail_after(15):
        while open_files(node.proc.pid) > baseline_files + files_slack:
            await trio.sleep(0.05)
    if baseline_rss is not None:
        assert rss_bytes(node.proc.pid) - baseline_rss < RSS_SLACK
