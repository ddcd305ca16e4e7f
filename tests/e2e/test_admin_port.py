"""The admin port against bad clients, over real sockets to a real process: garbage gets
400, a 100 kB header 431 (not a reset), silence and floods are bounded, the process
lives; and the port stays on 127.0.0.1 whatever --host is."""

from __future__ import annotations

import re
from pathlib import Path

import trio

from tests.e2e.wsraw import answer_to, open_files, read_all
from tests.support import GatewayProcess, http_get, stop


def admin_port(node: GatewayProcess) -> int:
    return int(node.admin.rsplit(":", 1)[1])


async def test_bad_requests_get_http_answers_and_the_process_lives(tmp_path: Path) -> None:
    node = GatewayProcess(tmp_path)
    try:
        port = admin_port(node)
        assert await http_get(node.admin + "/healthz") == (200, b"ok\n")
        files = open_files(node.proc.pid)
        assert (await answer_to(port, b"\x00\x01\x02 garbage\r\n\r\n")).startswith(b"HTTP/1.1 400")
        big = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 100_000 + b"\r\n\r\n"
        assert (await answer_to(port, big)).startswith(b"HTTP/1.1 431")
        assert (await answer_to(port, b"POST /metrics HTTP/1.1\r\nHost: x\r\ncontent-length: 0\r\n\r\n")).startswith(
            b"HTTP/1.1 405")
        assert (await answer_to(port, b"HEAD /readyz HTTP/1.1\r\nHost: x\r\n\r\n")).endswith(b"\r\n\r\n")
        # A flood of silent sockets: past the bound they get 503 at once; the rest close
        # at the request timeout; meanwhile the process answers.
        silent = [await trio.open_tcp_stream("127.0.0.1", port) for _ in range(100)]
        busy = 0
        with trio.fail_after(5):
            for stream in silent[64:]:
                busy += (await read_all(stream)).startswith(b"HTTP/1.1 503")
        assert busy == 36
        for stream in silent:
            await stream.aclose()
        assert node.proc.poll() is None, node.log
        with trio.fail_after(20):
            while (await http_get(node.admin + "/healthz"))[0] != 200 or open_files(node.proc.pid) > files + 2:
                await trio.sleep(0.1)
    finally:
        stop(node)
    assert node.proc.returncode == 0, node.log


async def test_the_admin_port_stays_private_whatever_host_is(tmp_path: Path) -> None:
    node = GatewayProcess(tmp_path / "a", "--host", "0.0.0.0")
    try:
        line = next(line for line in node.lines if "listening ws=" in line)
        assert re.search(r"ws=0\.0\.0\.0:\d+ admin=127\.0\.0\.1:\d+", line), line
    finally:
        stop(node)
    node = GatewayProcess(tmp_path / "b", env={"MG_ADMIN_HOST": "127.0.0.2"})
    try:
        assert "admin=127.0.0.2:" in next(line for line in node.lines if "listening ws=" in line)
    finally:
        stop(node)
