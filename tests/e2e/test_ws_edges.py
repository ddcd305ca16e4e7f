"""The WebSocket port against hostile and unusual clients, over real sockets to a real
gateway process: protocol edges get the RFC 6455 close code (with a close frame, not a
dropped socket), handshakes are bounded in size and time, and after each group the
process lives, answers a ping, and its open files are back near where they were."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import trio
from trio_websocket import ConnectionClosed, ConnectionRejected, open_websocket_url

from tests.e2e.wsraw import answer_to, close_code_after, healthy, open_files, opened, port_of, read_all, rss_bytes
from tests.protocol.wsbytes import frame, handshake, text
from tests.support import GatewayProcess, stop

PING = '{"jsonrpc":"2.0","id":1,"method":"system.ping"}'


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    gw = GatewayProcess(tmp_path_factory.mktemp("edges"), "--handshake-timeout", "1", "--message-timeout", "2",
                        "--allowed-origins", "https://app.example")
    try:
        yield gw
    finally:
        stop(gw)
    assert gw.proc.returncode == 0, gw.log


async def baseline(node: GatewayProcess) -> tuple[int, int]:
    """Open files and RSS before a hostile group."""
    await healthy(node, 10_000)
    return open_files(node.proc.pid), rss_bytes(node.proc.pid)


async def test_protocol_edges_get_their_close_codes(node: GatewayProcess) -> None:
    files = await baseline(node)  # open files and RSS
    port = port_of(node.url)
    cases = {
        "invalid UTF-8": (text(b'{"jsonrpc":"2.0","id":1,"method":"\xc3\x28"}'), 1007),
        "invalid UTF-8 in fragments": (text(b'"\xc3', fin=False) + frame(0x0, b'\x28"'), 1007),
        "binary": (frame(0x2, PING.encode()), 1003),
        "ping over 125 bytes": (frame(0x9, b"p" * 126), 1002),
        "fragmented ping": (frame(0x9, b"p", fin=False), 1002),
        "unknown opcode": (frame(0xB, b"?"), 1002),
        "reserved bits": (text(PING, rsv=2), 1002),
        "unmasked": (text(PING, mask=False), 1002),
        "continuation out of the blue": (frame(0x0, b"x"), 1002),
        "close with an invalid code": (frame(0x8, b"\x03\xe7"), 1002),
    }
    for name, (data, expected) in cases.items():
        code, received = await close_code_after(port, data)
        assert code == expected, (name, received)
    await healthy(node, *files)


async def test_binary_frames_close_with_1003_for_a_library_client(node: GatewayProcess) -> None:
    async with open_websocket_url(node.url) as ws:
        await ws.send_message(PING.encode())
        with pytest.raises(ConnectionClosed) as info:
            with trio.fail_after(5):
                await ws.get_message()
    assert info.value.reason.code == 1003


async def test_ping_pong_and_fragments_still_work(node: GatewayProcess) -> None:
    stream = await opened(port_of(node.url))
    async with stream:
        half = len(PING) // 2
        await stream.send_all(frame(0x9, b"hello") + text(PING[:half], fin=False) + frame(0xA, b"unasked")
                              + frame(0x0, PING[half:].encode()) + frame(0x8, b"\x03\xe8"))
        received = await read_all(stream)
    assert b"\x8a\x05hello" in received  # the pong
    answer = b'{"jsonrpc":"2.0","id":1,"result":{"pong":true}}'
    assert bytes([0x81, len(answer)]) + answer in received
    assert received.endswith(b"\x88\x02\x03\xe8")


async def test_handshake_abuse_is_answered_and_closed(node: GatewayProcess) -> None:
    files = await baseline(node)  # open files and RSS
    port = port_of(node.url)
    assert (await answer_to(port, b"\x16\x03\x01 not http\r\n\r\n")).startswith(b"HTTP/1.1 400")
    assert (await answer_to(port, handshake("/v1", upgrade=False))).startswith(b"HTTP/1.1 426")
    assert (await answer_to(port, handshake("/v1", "X-Big: " + "b" * 100_000))).startswith(b"HTTP/1.1 431")
    many = [f"X-F{i}: {'f' * 200}" for i in range(100)]  # 20 kB in short lines: past the 16 KiB bound
    assert (await answer_to(port, handshake("/v1", *many))).startswith(b"HTTP/1.1 431")
    assert (await answer_to(port, handshake("/v1", "Origin: https://evil.example"))).startswith(b"HTTP/1.1 403")
    assert (await answer_to(port, handshake("/elsewhere"))).startswith(b"HTTP/1.1 404")
    await healthy(node, *files)


async def test_slowloris_and_half_open_sockets_are_closed_after_the_handshake_timeout(node: GatewayProcess) -> None:
    files = await baseline(node)  # open files and RSS
    port = port_of(node.url)
    started = trio.current_time()

    async def dribble(done: list[float]) -> None:
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        async with stream:
            try:
                for byte in handshake():
                    await stream.send_all(bytes([byte]))
                    await trio.sleep(0.1)
            except trio.BrokenResourceError:
                pass
            assert await read_all(stream) == b""
            done.append(trio.current_time() - started)

    async def silent(done: list[float]) -> None:
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        async with stream:
            assert await read_all(stream) == b""
            done.append(trio.current_time() - started)

    done: list[float] = []
    async with trio.open_nursery() as nursery:
        for _ in range(20):
            nursery.start_soon(dribble, done)
            nursery.start_soon(silent, done)
    assert len(done) == 40 and all(0.9 < t < 5 for t in done), done
    await healthy(node, *files)


async def test_the_jsonrpc_subprotocol_and_allowed_origins(node: GatewayProcess) -> None:
    async with open_websocket_url(node.url, subprotocols=["chat", "jsonrpc"]) as ws:
        assert ws.subprotocol == "jsonrpc"
        await ws.send_message(PING)
        assert orjson.loads(await ws.get_message())["result"] == {"pong": True}
    async with open_websocket_url(node.url, subprotocols=["chat"]) as ws:
        assert ws.subprotocol is None
    async with open_websocket_url(node.url, extra_headers=[("Origin", "https://app.example")]) as ws:
        await ws.send_message(PING)
        assert orjson.loads(await ws.get_message())["result"] == {"pong": True}
    with pytest.raises(ConnectionRejected) as info:
        async with open_websocket_url(node.url, extra_headers=[("Origin", "https://evil.example")]):
            pass
    assert info.value.status_code == 403


async def test_unfinished_messages_end_with_1008_at_the_message_timeout(node: GatewayProcess) -> None:
    code, _ = await close_code_after(port_of(node.url), text(PING[:10], fin=False))
    assert code == 1008
    # A frame cut short (its bytes in the parser's buffer) counts as unfinished too.
    code, _ = await close_code_after(port_of(node.url), text(PING)[:12])
    assert code == 1008


async def test_rejected_handshakes_are_logged_with_the_peer_and_rate_limited(tmp_path: Path) -> None:
    gw = GatewayProcess(tmp_path / "logs")
    try:
        port = port_of(gw.url)
        for _ in range(50):
            stream = await trio.open_tcp_stream("127.0.0.1", port)
            async with stream:
                await stream.send_all(handshake("/nope"))
                await read_all(stream)
    finally:
        stop(gw)
    lines = [line for line in gw.lines if "handshake refused" in line]
    assert 1 <= len(lines) <= 10, lines
    assert "peer=127.0.0.1:" in lines[0] and "status=404" in lines[0], lines[0]
