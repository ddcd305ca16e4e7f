"""The opening handshake with bytes: what is answered, and when the request is too big."""

from __future__ import annotations

import attrs
import pytest

from protocol.ws_handshake import AllowedOrigins, Opening, Refusal, select_subprotocol
from tests.protocol.wsbytes import handshake, text

ANY = AllowedOrigins(any_origin=True)


def opening(**kw: int) -> Opening:
    return Opening(max_request_bytes=kw.get("max_request_bytes", 16384), max_message_bytes=1 << 20)


def received(data: bytes, **kw: int) -> Opening:
    o = opening(**kw)
    assert o.receive(data)
    return o


def status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def test_a_good_request_is_accepted_and_query_strings_ignored() -> None:
    o = received(handshake("/v1?x=1"))
    assert o.check(ANY) is None
    answer = o.accept()
    assert status(answer) == 101
    assert b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" in answer
    assert b"Sec-WebSocket-Protocol" not in answer


def test_the_request_may_arrive_a_byte_at_a_time() -> None:
    o = opening()
    data = handshake()
    for i, byte in enumerate(data):
        assert o.wants() >= 1
        done = o.receive(bytes([byte]))
        assert done == (i == len(data) - 1)
    assert o.check(ANY) is None


def test_frames_sent_with_the_request_are_left_for_after_the_accept() -> None:
    ping = text('{"jsonrpc":"2.0","id":1,"method":"system.ping"}')
    o = received(handshake() + ping)
    assert o.check(ANY) is None
    o.accept()
    assert o.leftover == ping


@pytest.mark.parametrize("offer, chosen", [
    ("jsonrpc", b"jsonrpc"), ("chat, jsonrpc", b"jsonrpc"), ("chat", None), ("JSONRPC", None)])
def test_the_jsonrpc_subprotocol_is_chosen_when_offered(offer: str, chosen: bytes | None) -> None:
    o = received(handshake("/v1", f"Sec-WebSocket-Protocol: {offer}"))
    assert o.check(ANY) is None
    answer = o.accept()
    assert status(answer) == 101
    if chosen is None:
        assert b"Sec-WebSocket-Protocol" not in answer
    else:
        assert b"Sec-WebSocket-Protocol: " + chosen + b"\r\n" in answer
    assert select_subprotocol(["a", "jsonrpc"]) == "jsonrpc" and select_subprotocol([]) is None


def test_a_wrong_path_is_404() -> None:
    o = received(handshake("/v2"))
    refusal = o.check(ANY)
    assert refusal == Refusal(404, "Not found: the WebSocket endpoint is /v1\n")
    assert status(o.refuse(refusal)) == 404


def test_a_plain_http_request_is_426_and_a_bad_key_400() -> None:
    o = received(handshake("/v1", upgrade=False))
    answer = o.refuse(o.check(ANY))  # type: ignore[arg-type]
    assert status(answer) == 426 and b"Upgrade: websocket" in answer
    o = received(handshake("/v1", key="short"))
    assert status(o.refuse(o.check(ANY))) == 400  # type: ignore[arg-type]


def test_garbage_gets_a_400_and_the_end_of_the_stream() -> None:
    o = received(b"\x16\x03\x01\x02\x00garbage that is no HTTP at all\r\n\r\n")
    assert o.ended
    assert status(o.answer_bad_request()) == 400


def test_a_peer_that_leaves_mid_request_gets_nothing() -> None:
    o = opening()
    assert not o.receive(handshake()[:20])
    assert o.receive(b"")
    assert o.ended and o.answer_bad_request() == b""


def test_a_request_over_the_size_bound_is_431_without_reading_more() -> None:
    headers = [f"X-Filler-{i}: {'a' * 200}" for i in range(100)]  # 20 kB, each line short
    data = handshake("/v1", *headers)
    o = opening(max_request_bytes=4096)
    fed = 0
    while True:
        chunk = data[fed:fed + o.wants()]
        fed += len(chunk)
        if o.receive(chunk):
            break
    assert o.received == fed == 4096
    assert o.ended and status(o.answer_bad_request()) == 431


def test_a_100_kb_header_line_is_431() -> None:
    o = received(handshake("/v1", "X-Big: " + "b" * 100_000), max_request_bytes=200_000)
    assert o.ended and status(o.answer_bad_request()) == 431


@pytest.mark.parametrize("allowed, origin, ok", [
    ("", None, True),  # no Origin: not a browser
    ("", "http://gw.example:8080", True),  # the gateway's own origin
    ("", "https://evil.example", False),
    ("", "null", False),
    ("https://app.example, https://tv.example", "https://TV.example/", True),
    ("https://app.example", "https://evil.example", False),
    ("*", "https://anything.example", True),
])
def test_origins(allowed: str, origin: str | None, ok: bool) -> None:
    extra = [f"Origin: {origin}"] if origin else []
    o = received(handshake("/v1", *extra))
    refusal = o.check(AllowedOrigins.parse(allowed))
    if ok:
        assert refusal is None
    else:
        assert refusal == Refusal(403, "Origin not allowed.\n")
        assert status(o.refuse(refusal)) == 403


def test_headers_given_twice_are_not_trusted() -> None:
    o = received(handshake("/v1", "Authorization: Bearer a", "Authorization: Bearer b"))
    assert o.check(ANY) is None
    assert o.header("Authorization") is None
    o = received(handshake("/v1", "Origin: https://a.example", "Origin: https://b.example"))
    assert status(o.refuse(o.check(ANY))) == 400  # type: ignore[arg-type]


def test_the_console_on_the_admin_port_is_an_own_origin() -> None:
    origins = attrs.evolve(AllowedOrigins.parse(""), sibling_ports=frozenset({8081}))
    assert origins.allows("http://127.0.0.1:8081", "127.0.0.1:8080")
    assert origins.allows("http://localhost:8081", "localhost:8080")
    assert not origins.allows("http://localhost:8081", "127.0.0.1:8080")
    assert not origins.allows("http://127.0.0.1:9999", "127.0.0.1:8080")
    assert not origins.allows("http://127.0.0.1:x", "127.0.0.1:8080")
    assert not AllowedOrigins.parse("").allows("http://127.0.0.1:8081", "127.0.0.1:8080")
