"""A handshake that goes wrong on the client's side stays with that connection.

Against a real gateway process: a crash would end the process, not a task."""

from __future__ import annotations

import os
import socket
import struct
from pathlib import Path

import trio

from tests.support import GatewayProcess, connect, stop

UPGRADE = ("GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n")


def _open_files(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/", 1)[0])


def _send_and_go(port: int, request: str, *, reset: bool) -> None:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(request.encode())
    if reset:  # RST instead of FIN
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


async def test_handshakes_closed_unread_or_reset_leave_the_process_serving(tmp_path: Path) -> None:
    node = GatewayProcess(tmp_path / "node")
    try:
        port = _port(node.url)
        async with connect(node.url) as client:
            assert await client.call("system.ping") == {"pong": True}
        baseline = _open_files(node.proc.pid)
        requests = [
            UPGRADE.format(path="/wrong", extra=""),
            UPGRADE.format(path="/v1", extra="Authorization: Bearer not-a-token\r\n"),
            UPGRADE.format(path="/v1", extra=""),
        ]
        for _ in range(20):
            for request in requests:
                for reset in (False, True):
                    _send_and_go(port, request, reset=reset)
        # Rejected sockets that the client keeps open unread are closed by the server.
        held = [socket.create_connection(("127.0.0.1", port)) for _ in range(20)]
        for sock in held:
            sock.sendall(UPGRADE.format(path="/wrong", extra="").encode())
        with trio.fail_after(20):
            for sock in held:
                sock.settimeout(10)
                data = b""
                while chunk := await trio.to_thread.run_sync(sock.recv, 65536):
                    data += chunk
                assert data.startswith(b"HTTP/1.1 404")
                sock.close()
        assert node.proc.poll() is None, node.log
        async with connect(node.url) as client:
            assert await client.call("system.ping") == {"pong": True}
        with trio.fail_after(10):
            while _open_files(node.proc.pid) > baseline + 2:
                await trio.sleep(0.05)
    finally:
        stop(node)
    assert node.proc.returncode == 0, node.log
