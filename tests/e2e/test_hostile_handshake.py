"""Handshake abuses against a real gateway process, on the WebSocket and the admin ports:
upgrades refused, abandoned or reset, half-open sockets, slowloris, oversized headers,
garbage, HTTP/1.0, missing key or version, many connections at once. Each test ends
with `Node.check()` (alive, a ping, no actor crashed, open files and memory back near
the baseline)."""

from __future__ import annotations

import socket
import struct
import threading
import time
import pytest

from tests.e2e.node import Node
from tests.e2e.rawws import RawClient, split_url, upgrade_request
from tests.support import GatewayProcess

HANDSHAKE_TIMEOUT = 10.0
"""Seconds the gateway gives a client to finish its handshake (and the admin port a
request), then closes the socket."""


def _connect(port: int, timeout: float = 10.0) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=timeout)


def _exchange(port: int, data: bytes, *, timeout: float = 10.0) -> bytes:
    """Send `data`, read until the server closes (a reset after its answer counts as
    closing); what came back."""
    with _connect(port, timeout) as sock:
        sock.sendall(data)
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
                if received.startswith(b"HTTP/1.1 101 "):
                    break  # accepted: nothing more to wait for
        except ConnectionResetError:
            pass
        return received


def _status(answer: bytes) -> int | None:
    if not answer.startswith(b"HTTP/1.1 "):
        return None
    return int(answer.split(b" ", 2)[1])


def _reset(sock: socket.socket) -> None:
    """Close with RST instead of FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def _admin_port(node: Node) -> int:
    return split_url(node.admin.replace("http://", "ws://") + "/")[1]


def test_refused_abandoned_and_reset_handshakes_leave_nothing_behind(node: Node) -> None:
    bad_token = [("Authorization", "Bearer not-a-token")]
    requests = [upgrade_request("/wrong"), upgrade_request(headers=bad_token), upgrade_request()]
    for _ in range(10):
        for request in requests:
            for ending in (socket.socket.close, _reset):
                sock = _connect(node.port)
                sock.sendall(request)
                ending(sock)
    # Refused upgrades the client leaves unread: the server answers and closes anyway.
    held = [_connect(node.port) for _ in range(30)]
    for sock in held:
        sock.sendall(upgrade_request("/wrong"))
    for sock in held:
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
        assert _status(received) == 404, received[:100]
        sock.close()
    # An accepted connection reset while its requests are running.
    for _ in range(10):
        client = RawClient.open(node.url)
        for rid in range(20):
            client.send_text('{"jsonrpc":"2.0","id":%d,"method":"rpc.discover"}' % rid)
        _reset(client.sock)
    node.check()


MALFORMED = [b"\x00\xff\xfe garbage \r\n\r\n", upgrade_request(key=None), upgrade_request(version="8"),
             b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"]


def test_a_malformed_upgrade_reset_before_its_answer_stops_nothing(node: Node) -> None:
    for _ in range(10):
        for request in MALFORMED:
            sock = _connect(node.port)
            sock.sendall(request)
            _reset(sock)
    node.check()


BAD_UPGRADES: list[tuple[str, bytes, set[int]]] = [
    ("garbage", b"\x00\xff\xfe garbage \r\n\r\n", {400}),
    ("TLS on a plain port", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64 + b"\r\n\r\n", {400}),
    ("plain GET", b"GET /v1 HTTP/1.1\r\nHost: x\r\n\r\n", {400, 426}),
    ("POST", b"POST /v1 HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}", {400, 405, 426}),
    ("no Sec-WebSocket-Key", upgrade_request(key=None), {400}),
    ("no Sec-WebSocket-Version", upgrade_request(version=None), {400, 426}),
    ("version 8", upgrade_request(version="8"), {400, 426}),
    ("wrong path", upgrade_request("/v2"), {404}),
    ("a path of 100 kB", upgrade_request("/" + "a" * 100_000), {400, 404, 414, 431}),
    ("a header of 100 kB", upgrade_request(headers=[("X-Big", "a" * 100_000)]), {400, 431}),
    ("5,000 headers", upgrade_request(headers=[(f"X-{i}", "a") for i in range(5000)]), {400, 431}),
    ("a bad bearer token", upgrade_request(headers=[("Authorization", "Bearer x.y.z")]), {401}),
    ("a bearer token of 1 MB", upgrade_request(headers=[("Authorization", "Bearer " + "a" * 1_000_000)]), {400, 401, 431}),
    ("an unknown scheme", upgrade_request(headers=[("Authorization", "Basic dXNlcjpwYXNz")]), {401}),
]


@pytest.mark.parametrize(("what", "request_", "statuses"), BAD_UPGRADES, ids=[case[0] for case in BAD_UPGRADES])
def test_a_bad_upgrade_gets_an_http_error_and_the_socket_closed(node: Node, what: str, request_: bytes,
                                                               statuses: set[int]) -> None:
    for _ in range(3):
        answer = _exchange(node.port, request_)
        assert _status(answer) in statuses, f"{what}: {answer[:200]!r}"
    node.check()


def test_an_upgrade_over_http_1_0_is_refused(node: Node) -> None:
    answer = _exchange(node.port, upgrade_request(http="HTTP/1.0"))
    assert _status(answer) in {400, 426, 505}, answer[:200]
    node.check()


def test_a_key_of_the_wrong_size_is_refused(node: Node) -> None:
    for key in ("c2hvcnQ=", "not base64 at all!", "dGhlIHNhbXBsZSBub25jZQ==dGhl"):
        answer = _exchange(node.port, upgrade_request(key=key))
        assert _status(answer) == 400, (key, answer[:200])
    node.check()


def test_a_browser_upgrade_from_another_origin_is_refused(node: Node) -> None:
    """By default only the gateway's own origin may connect from a browser; a request
    without an Origin (not a browser) is allowed."""
    host = f"127.0.0.1:{node.port}"
    for origin in ("http://evil.example", "null", "https://127.0.0.1.evil.example"):
        answer = _exchange(node.port, upgrade_request(host=host, headers=[("Origin", origin)]))
        assert _status(answer) == 403, (origin, answer[:200])
    own = upgrade_request(host=host, headers=[("Origin", f"http://{host}")])
    assert _status(_exchange(node.port, own)) == 101
    node.check()


ADMIN_ABUSES: list[tuple[str, bytes, set[int]]] = [
    ("garbage", b"\x00\xff\xfe garbage \r\n\r\n", {400}),
    ("a header of 100 kB", b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n", {400, 431}),
]


@pytest.mark.parametrize(("what", "request_", "statuses"), ADMIN_ABUSES, ids=[case[0] for case in ADMIN_ABUSES])
def test_the_admin_port_answers_bad_requests_with_an_http_error(node: Node, what: str, request_: bytes,
                                                                statuses: set[int]) -> None:
    answer = _exchange(_admin_port(node), request_)
    assert _status(answer) in statuses, f"{what}: {answer[:200]!r}"
    node.check()


def test_half_open_and_slowloris_sockets_are_closed_at_the_handshake_deadline(node: Node) -> None:
    """Sockets that send nothing, half a request, or a request one byte at a time, on
    both ports: the server goes on serving meanwhile and closes each of them once the
    handshake deadline has passed (counted from the connection, not from the last byte)."""
    admin_port = _admin_port(node)
    started = time.monotonic()
    silent = [_connect(port) for port in (node.port, admin_port) for _ in range(25)]
    halves = [_connect(port) for port in (node.port, admin_port) for _ in range(25)]
    for sock in halves[:25]:
        sock.sendall(upgrade_request()[:40])
    for sock in halves[25:]:
        sock.sendall(b"GET /metrics HTTP/1.1\r\nHost:")
    cut_after: list[float] = []

    def trickle(port: int, request: bytes) -> None:
        with _connect(port, timeout=HANDSHAKE_TIMEOUT + 10) as sock:
            try:
                for byte in request:
                    sock.sendall(bytes([byte]))
                    time.sleep(0.2)
            except OSError:
                cut_after.append(time.monotonic() - started)

    slow = [threading.Thread(target=trickle, args=(node.port, upgrade_request()), daemon=True),
            threading.Thread(target=trickle, daemon=True, args=(
                admin_port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"p" * 100 + b"\r\n\r\n"))]
    for thread in slow:
        thread.start()
    # Meanwhile everyone else is served at once.
    for _ in range(5):
        t0 = time.monotonic()
        assert node.ping()["result"] == {"pong": True}
        assert time.monotonic() - t0 < 1.0
    for sock in silent + halves:
        sock.settimeout(HANDSHAKE_TIMEOUT + 10)
        try:
            while sock.recv(65536):
                pass
        except ConnectionResetError:
            pass
        waited = time.monotonic() - started
        assert waited < HANDSHAKE_TIMEOUT + 5, f"a socket stayed open {waited:.1f} s"
        sock.close()
    for thread in slow:
        thread.join(HANDSHAKE_TIMEOUT + 10)
    assert len(cut_after) == 2 and max(cut_after) < HANDSHAKE_TIMEOUT + 5, cut_after
    node.check()


def test_many_connections_at_once_are_served_and_released(node: Node) -> None:
    """400 connections open together, each answered; memory per idle connection stays
    small (bound: 128 KiB each), and everything is released when they go."""
    clients = [RawClient.open(node.url) for _ in range(400)]
    try:
        for client in clients:
            client.send_text('{"jsonrpc":"2.0","id":1,"method":"system.ping"}')
        for client in clients:
            assert client.answer(1)["result"] == {"pong": True}
        assert node.ws_connections() >= 400
        grown = node.rss() - node.baseline_rss
        assert grown < 400 * (128 << 10), f"{grown >> 20} MiB for 400 idle connections"
    finally:
        for client in clients:
            client.close()
    node.check()


def test_the_admin_port_stays_private_whatever_the_host(tmp_path) -> None:
    gateway = GatewayProcess(tmp_path / "open", "--host", "0.0.0.0")
    try:
        line = next(line for line in gateway.lines if "listening ws=" in line)
        assert "ws=0.0.0.0:" in line and " admin=127.0.0.1:" in line, line
    finally:
        gateway.terminate()
