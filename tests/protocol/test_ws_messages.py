"""Frames into messages, budgets and deadlines, and the close codes of bad frames:
bytes fed to the `websockets` protocol the transport uses, no sockets."""

from __future__ import annotations

import pytest
from websockets.protocol import State
from websockets.server import ServerProtocol

from protocol.ws_messages import Messages, PartialBudget, Refused, is_utf8
from tests.protocol.wsbytes import close_code, frame, text


def open_protocol() -> ServerProtocol:
    return ServerProtocol(state=State.OPEN, max_size=1 << 20)


def feed(proto: ServerProtocol, messages: Messages, data: bytes) -> list[bytes]:
    proto.receive_data(data)
    out = []
    for event in proto.events_received():
        message = messages.frame(event)
        if message is not None:
            out.append(message)
    return out


def test_whole_and_fragmented_text_messages() -> None:
    proto, messages = open_protocol(), Messages(PartialBudget(1 << 20))
    assert feed(proto, messages, text("one")) == [b"one"]
    assert feed(proto, messages, text("tw", fin=False)) == []
    assert feed(proto, messages, frame(0x9, b"ping") + frame(0x0, b"o", fin=False)) == []  # a ping in between
    assert feed(proto, messages, frame(0x0, b"!")) == [b"two!"]
    assert proto.data_to_send()[0][:2] == b"\x8a\x04"  # the pong


def test_binary_frames_are_refused_with_1003() -> None:
    proto, messages = open_protocol(), Messages(PartialBudget(1 << 20))
    with pytest.raises(Refused) as info:
        feed(proto, messages, frame(0x2, b"{}"))
    assert info.value.code == 1003


@pytest.mark.parametrize("data", [
    frame(0x9, b"x" * 126),  # a ping over 125 bytes
    frame(0x9, b"x", fin=False),  # a fragmented control frame
    frame(0x3, b"x"),  # an unknown opcode
    text("x", rsv=4),  # a reserved bit
    text("x", mask=False),  # an unmasked client frame
    frame(0x0, b"x"),  # a continuation without a message begun
    text("a", fin=False) + text("b"),  # a new message inside one
])
def test_malformed_frames_close_with_1002(data: bytes) -> None:
    proto = open_protocol()
    proto.receive_data(data)
    assert proto.state is State.CLOSING
    assert close_code(b"".join(proto.data_to_send())) == 1002


def test_too_big_closes_with_1009_also_in_fragments() -> None:
    proto = open_protocol()
    proto.receive_data(text("x" * 600_000, fin=False) + frame(0x0, b"y" * 600_000))
    assert close_code(b"".join(proto.data_to_send())) == 1009


def test_invalid_utf8() -> None:
    assert is_utf8("é".encode()) and not is_utf8(b"\xc3\x28") and not is_utf8(b"\xed\xa0\x80")


def test_unfinished_messages_count_against_the_process_budget() -> None:
    budget = PartialBudget(1000)
    a, b = Messages(budget), Messages(budget)
    proto_a, proto_b = open_protocol(), open_protocol()
    feed(proto_a, a, text("x" * 600, fin=False))
    a.hold(0, now=5.0)
    assert (budget.held, a.since) == (600, 5.0)
    b.hold(300, now=6.0)  # an incomplete frame in the parser's buffer counts too
    assert budget.held == 900
    feed(proto_b, b, text("y" * 200, fin=False))
    with pytest.raises(Refused) as info:
        b.hold(0, now=7.0)  # 600 + 200: within; but b grew past what is left? 800 <= 1000
        b.hold(300, now=7.0)  # 600 + 500 > 1000
    assert info.value.code == 1009
    assert feed(proto_a, a, frame(0x0, b"!")) == [b"x" * 600 + b"!"]
    a.hold(0, now=8.0)
    assert a.since is None and budget.held == 500
    b.release()
    assert budget.held == 0


def test_shrinking_never_refuses() -> None:
    budget = PartialBudget(100)
    m = Messages(budget)
    budget.held = 500  # others already past the limit
    m.hold(0, now=0.0)
    assert budget.held == 500
