"""Bytes into messages: the quick path for common frames, the protocol for the rest,
budgets and deadlines, and the close codes of bad frames. No sockets."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.protocol import State
from websockets.server import ServerProtocol

from protocol.ws_messages import Messages, PartialBudget, Refused, frame_end, is_utf8, whole_text_frames
from tests.protocol.wsbytes import close_code, frame, text

MiB = 1 << 20


def reader(budget: PartialBudget | None = None, max_size: int = MiB) -> Messages:
    return Messages(ServerProtocol(state=State.OPEN, max_size=max_size), budget or PartialBudget(64 * MiB),
                    max_size=max_size)


def closed_with(m: Messages) -> int | None:
    return close_code(b"".join(m.protocol.data_to_send()))


def test_whole_and_fragmented_text_messages() -> None:
    m = reader()
    assert m.receive(text("one") + text("two")) == ([b"one", b"two"], None)
    assert m.receive(text("th", fin=False)) == ([], None)
    assert m.receive(frame(0x9, b"ping") + frame(0x0, b"r", fin=False)) == ([], None)  # a ping in between
    assert m.receive(frame(0x0, b"ee") + text("four")) == ([b"three", b"four"], None)
    assert b"".join(m.protocol.data_to_send())[:6] == b"\x8a\x04ping"  # the pong


def test_a_frame_split_anywhere_waits_for_its_end() -> None:
    data = text("x" * 300) + text("y")
    for cut in range(1, len(data)):
        m = reader()
        first, _ = m.receive(data[:cut])
        second, _ = m.receive(data[cut:])
        assert first + second == [b"x" * 300, b"y"]


def test_binary_frames_are_refused_with_1003_after_the_messages_before_them() -> None:
    messages, refused = reader().receive(text("a") + frame(0x2, b"{}") + text("b"))
    assert messages == [b"a"] and refused is not None and refused.code == 1003


@pytest.mark.parametrize("data", [
    frame(0x9, b"x" * 126),  # a ping over 125 bytes
    frame(0x9, b"x", fin=False),  # a fragmented control frame
    frame(0x3, b"x"),  # an unknown opcode
    text("x", rsv=4),  # a reserved bit
    text("x", mask=False),  # an unmasked client frame
    frame(0x0, b"x"),  # a continuation without a message begun
    text("a", fin=False) + text("b"),  # a new message inside one
    frame(0x8, b"\x03\xe7"),  # close code 999
])
def test_malformed_frames_close_with_1002(data: bytes) -> None:
    m = reader()
    m.receive(data)
    assert m.protocol.state is State.CLOSING
    assert closed_with(m) == 1002


def test_too_big_closes_with_1009_without_waiting_for_the_payload() -> None:
    m = reader()
    m.receive(text("x" * 600_000, fin=False) + frame(0x0, b"y" * 600_000)[:20])
    assert closed_with(m) == 1009
    m = reader()
    m.receive(text("x" * (MiB + 1))[:20])  # just the header of a frame over the limit
    assert closed_with(m) == 1009


def test_the_quick_path_and_frame_ends() -> None:
    out: list[bytes] = []
    data = text("a" * 125) + text("b" * 126) + text("c" * 70_000) + frame(0x9, b"p")
    at = whole_text_frames(data, 0, MiB, out)
    assert out == [b"a" * 125, b"b" * 126]  # 64-bit lengths and control frames go to the protocol
    assert frame_end(data, at, MiB) == at + 2 + 8 + 4 + 70_000
    assert frame_end(data, 0, MiB) == 2 + 4 + 125
    assert frame_end(data[:5], 0, MiB) is None
    assert frame_end(text("x" * 2000)[:4], 0, 1000) == 4  # over max: the length is enough
    assert whole_text_frames(text("z", mask=False), 0, MiB, out) == 0


def test_invalid_utf8() -> None:
    assert is_utf8("é".encode()) and not is_utf8(b"\xc3\x28") and not is_utf8(b"\xed\xa0\x80")


def test_unfinished_messages_count_against_the_process_budget() -> None:
    budget = PartialBudget(1000)
    a, b = reader(budget), reader(budget)
    a.receive(text("x" * 600, fin=False))
    a.hold(now=5.0)
    assert (budget.held, a.since) == (600, 5.0)
    b.receive(text("y" * 600)[:450])  # an incomplete frame counts too
    with pytest.raises(Refused) as info:
        b.hold(now=6.0)
    assert info.value.code == 1009
    assert a.receive(frame(0x0, b"!")) == ([b"x" * 600 + b"!"], None)
    a.hold(now=8.0)
    assert a.since is None and budget.held == 450 and budget.released == 600
    b.release()
    assert budget.held == 0


def test_shrinking_never_refuses() -> None:
    budget = PartialBudget(100)
    m = reader(budget)
    budget.held = 500  # others already past the limit
    m.hold(now=0.0)
    assert budget.held == 500


# The quick path must give what the protocol alone gives, however the bytes are cut.

FRAMES = st.one_of(
    st.binary(max_size=300).map(lambda b: ("text", b)),
    st.binary(max_size=70_000).filter(lambda b: len(b) > 65_535).map(lambda b: ("text", b)),
    st.lists(st.binary(max_size=50), min_size=2, max_size=4).map(lambda parts: ("fragments", parts)),
    st.binary(max_size=125).map(lambda b: ("ping", b)),
)


def encode(item: tuple[str, object]) -> bytes:
    kind, value = item
    if kind == "text":
        return text(value)  # type: ignore[arg-type]
    if kind == "ping":
        return frame(0x9, value)  # type: ignore[arg-type]
    parts = value  # type: ignore[assignment]
    return text(parts[0], fin=False) + b"".join(  # type: ignore[index]
        frame(0x0, p, fin=i == len(parts) - 1) for i, p in enumerate(parts[1:], 1))  # type: ignore[arg-type]


def expected(items: list[tuple[str, object]]) -> list[bytes]:
    return [v if k == "text" else b"".join(v) for k, v in items if k != "ping"]  # type: ignore[misc, arg-type]


@settings(max_examples=150, deadline=None)
@given(st.lists(FRAMES, max_size=8), st.lists(st.integers(min_value=1, max_value=200), max_size=10))
def test_cut_anywhere_the_messages_are_the_same(items: list[tuple[str, object]], cuts: list[int]) -> None:
    data = b"".join(encode(item) for item in items)
    m = reader()
    got: list[bytes] = []
    at = 0
    for size in cuts:
        got += m.receive(data[at:at + size])[0]
        at += size
    got += m.receive(data[at:])[0]
    assert got == expected(items)
    assert m.protocol.state is State.OPEN and m.held == 0 or m._fragments + len(m._pending) == 0
    pings = [v for k, v in items if k == "ping"]
    pongs = b"".join(m.protocol.data_to_send())
    assert pongs == b"".join(b"\x8a" + bytes([len(p)]) + p for p in pings)  # type: ignore[arg-type]
