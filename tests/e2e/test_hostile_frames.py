"""Frame abuses on an open WebSocket, against a real gateway process: invalid UTF-8,
binary frames, broken framing (unmasked, reserved bits and opcodes, continuations out
of place), control-frame abuses, oversized and unfinished messages, ping floods.

RFC 6455 7.1.7: an endpoint that must fail the connection after the handshake should
send a close frame with the reason's code first; the contract names 1007 (invalid
UTF-8), 1003 (binary) and 1009 (too big), and 1002 is the code for a protocol error.
Each test ends with `Node.check()` (alive, a ping, no actor crashed, open files and
memory back near the baseline)."""

from __future__ import annotations

import time

import pytest

from tests.e2e.node import Node
from tests.e2e.rawws import BINARY, CLOSE, CONT, PING, PONG, TEXT, Closed, RawClient, close_payload, encode_frame

PING_REQUEST = b'{"jsonrpc":"2.0","id":1,"method":"system.ping"}'


def _close_code(node: Node, *frames: bytes) -> int | None:
    """Send `frames` on a new connection; the code of the server's close frame (None
    when it ended TCP without one). The server must end TCP after it."""
    with RawClient.open(node.url) as client:
        for frame in frames:
            try:
                client.sendall(frame)
            except (BrokenPipeError, ConnectionResetError):
                break
        close = client.close_frame(timeout=3)
        client.wait_eof(timeout=3)
        return None if close is None else close.close_code


INVALID_UTF8 = {
    "a lone continuation byte": encode_frame(TEXT, b'{"a":"\x80"}'),
    "an overlong slash": encode_frame(TEXT, b'{"a":"\xc0\xaf"}'),
    "an encoded surrogate": encode_frame(TEXT, b'{"a":"\xed\xa0\x80"}'),
    "a code point past U+10FFFF": encode_frame(TEXT, b'{"a":"\xf4\x90\x80\x80"}'),
    "a sequence cut at the end": encode_frame(TEXT, b'{"a":"\xe2\x82'),
    "a bad byte in the second fragment": encode_frame(TEXT, b'{"a":"', fin=False) + encode_frame(CONT, b'\xff"}'),
}


@pytest.mark.parametrize("what", list(INVALID_UTF8))
def test_invalid_utf8_closes_with_1007(node: Node, what: str) -> None:
    assert _close_code(node, INVALID_UTF8[what]) == 1007, what
    node.check()


def test_utf8_split_between_fragments_is_fine(node: Node) -> None:
    with RawClient.open(node.url) as client:
        head, tail = '{"jsonrpc":"2.0","id":1,"method":"system.ping","params":{"x":"€'.encode()[:-2], b'\x82\xac"}}'
        client.sendall(encode_frame(TEXT, head, fin=False) + encode_frame(CONT, tail))
        assert client.answer(1)["error"]["code"] == -32602
    node.check()


def test_a_binary_frame_closes_with_1003(node: Node) -> None:
    assert _close_code(node, encode_frame(BINARY, PING_REQUEST)) == 1003
    assert _close_code(node, encode_frame(BINARY, PING_REQUEST, fin=False), encode_frame(CONT, b"")) == 1003
    node.check()


PROTOCOL_ERRORS = {
    "an unmasked frame": encode_frame(TEXT, PING_REQUEST, mask=False),
    "RSV1 without an extension": encode_frame(TEXT, PING_REQUEST, rsv=4),
    "RSV2": encode_frame(TEXT, PING_REQUEST, rsv=2),
    "RSV3": encode_frame(TEXT, PING_REQUEST, rsv=1),
    "reserved opcode 0x3": encode_frame(0x3, b"x"),
    "reserved opcode 0x7": encode_frame(0x7, b"x"),
    "reserved opcode 0xB": encode_frame(0xB, b"x"),
    "reserved opcode 0xF": encode_frame(0xF, b"x"),
    "a continuation with nothing to continue": encode_frame(CONT, b"x"),
    "a text frame inside a fragmented message": encode_frame(TEXT, b'{"a"', fin=False) + encode_frame(TEXT, b"1"),
    "a ping of 126 bytes": encode_frame(PING, b"p" * 126),
    "a fragmented ping": encode_frame(PING, b"p", fin=False),
    "a fragmented close": encode_frame(CLOSE, close_payload(1000), fin=False),
    "a close of one byte": encode_frame(CLOSE, b"\x03"),
    "close code 0": encode_frame(CLOSE, close_payload(0)),
    "close code 999": encode_frame(CLOSE, close_payload(999)),
    "close code 1005 (reserved)": encode_frame(CLOSE, close_payload(1005)),
    "close code 1006 (reserved)": encode_frame(CLOSE, close_payload(1006)),
    "close code 1015 (reserved)": encode_frame(CLOSE, close_payload(1015)),
    "close code 5000": encode_frame(CLOSE, close_payload(5000)),
    "a length with its top bit set": encode_frame(TEXT, b"", length=1 << 63),
}


@pytest.mark.parametrize("what", list(PROTOCOL_ERRORS))
def test_a_protocol_error_closes_with_1002(node: Node, what: str) -> None:
    assert _close_code(node, PROTOCOL_ERRORS[what]) in {1002, 1009}, what
    node.check()


def test_a_close_reason_in_invalid_utf8_closes_with_1007(node: Node) -> None:
    assert _close_code(node, encode_frame(CLOSE, close_payload(1000, b"bye \xff"))) in {1002, 1007}
    node.check()


def test_the_close_handshake_and_pings_work(node: Node) -> None:
    with RawClient.open(node.url) as client:
        client.sendall(encode_frame(PING, b"hello") + encode_frame(PONG, b"unasked") + encode_frame(TEXT, PING_REQUEST))
        frames = [client.recv_frame(), client.recv_frame()]  # the pong and the answer, in either order
        assert sorted((f.opcode, f.payload) for f in frames) == sorted(
            [(PONG, b"hello"), (TEXT, b'{"jsonrpc":"2.0","id":1,"result":{"pong":true}}')])
        client.sendall(encode_frame(CLOSE, close_payload(1000, "fin ✓".encode())))
        close = client.close_frame()
        assert close is not None and close.close_code == 1000
        client.wait_eof()
    assert _close_code(node, encode_frame(CLOSE, close_payload(4321, b"app"))) == 4321
    assert _close_code(node, encode_frame(CLOSE)) in {1000, 1005}
    node.check()


def test_messages_over_1_mib_close_with_1009(node: Node) -> None:
    whole = encode_frame(TEXT, b'"' + b"x" * (1 << 20) + b'"')
    fragments = encode_frame(TEXT, b'"', fin=False) + b"".join(
        encode_frame(CONT, b"x" * 65536, fin=False) for _ in range(17)) + encode_frame(CONT, b'"')
    assert _close_code(node, whole) == 1009
    assert _close_code(node, fragments) == 1009
    node.check()


def test_a_frame_declaring_more_than_1_mib_is_refused_before_its_payload(node: Node) -> None:
    started = time.monotonic()
    assert _close_code(node, encode_frame(TEXT, b"", length=1 << 62)) == 1009
    assert _close_code(node, encode_frame(TEXT, b"", length=(1 << 20) + 1)) == 1009
    assert time.monotonic() - started < 3
    node.check()


UNFINISHED_FRAGMENTS = 112
UNFINISHED_SHORT_FRAMES = 32
UNFINISHED_BYTES = 1000 << 10
UNFINISHED_BOUND = 80 << 20


def _read_past(client: RawClient) -> None:
    """Ping inside the unfinished message (control frames may come between fragments)
    and wait for the pong, or for the server to close: either way it has read the rest."""
    client.send_frame(PING, b"sync")
    try:
        for frame in client.messages(timeout=30):
            if frame.opcode in (PONG, CLOSE):
                return
    except Closed:
        return


def test_unfinished_messages_have_a_process_wide_budget(tmp_path) -> None:
    """144 connections each begin ~1 MB and never finish it: 112 as a whole first
    fragment of an unfinished message (each followed by a ping, so the server has surely
    read it), 32 as a frame whose payload stops short of its declared length. Bound: the
    process holds at most 80 MiB more than its baseline meanwhile (a budget of 64 MiB,
    the transport's default, plus room); connections past the budget are closed (1009),
    the others wait."""
    body = b'{"jsonrpc":"2.0","id":1,"method":"system.ping","params":{"p":"' + b"x" * UNFINISHED_BYTES
    fragment = encode_frame(TEXT, body, fin=False)
    short_frame = encode_frame(TEXT, body + b'"}}')[:-1024]
    clients = []
    node = Node(tmp_path / "budget").start()  # its own process: today it keeps the memory
    try:
        for i in range(UNFINISHED_FRAGMENTS + UNFINISHED_SHORT_FRAMES):
            client = RawClient.open(node.url)
            clients.append(client)
            try:
                client.sendall(fragment if i < UNFINISHED_FRAGMENTS else short_frame)
                if i < UNFINISHED_FRAGMENTS:
                    _read_past(client)
            except (BrokenPipeError, ConnectionResetError):
                pass
        assert node.ping()["result"] == {"pong": True}
        grown = node.rss() - node.baseline_rss
        assert grown <= UNFINISHED_BOUND, f"{grown >> 20} MiB held for unfinished messages"
        for client in clients:
            client.close()
        node.check()
    finally:
        for client in clients:
            client.close()
        node.stop()


def test_an_unfinished_message_is_closed_at_its_deadline(tmp_path) -> None:
    node = Node(tmp_path / "deadline", "--message-timeout", "1").start()
    try:
        with RawClient.open(node.url) as client:
            started = time.monotonic()
            client.sendall(encode_frame(TEXT, b'{"jsonrpc":', fin=False))
            close = client.close_frame(timeout=10)
            assert close is not None and close.close_code == 1008
            assert time.monotonic() - started < 5
        node.check()
    finally:
        node.stop()


def test_a_ping_flood_from_a_client_that_never_reads(node: Node) -> None:
    """20,000 pings of 125 bytes, no pong read: the pongs a server owes are bounded
    (TCP pushes back or the connection is closed), and others are served meanwhile."""
    before = node.rss()
    client = RawClient.open(node.url)
    client.sock.settimeout(5)
    frames = encode_frame(PING, b"p" * 125) * 1000
    try:
        for _ in range(20):
            client.sendall(frames)
    except (TimeoutError, BrokenPipeError, ConnectionResetError):
        pass  # pushed back or cut off: both bound what the server holds
    assert node.ping()["result"] == {"pong": True}
    assert node.rss() - before < 32 << 20
    client.close()
    node.check()
