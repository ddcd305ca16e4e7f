"""Bytes off a WebSocket into whole text messages, within budgets, without I/O.

The `websockets` protocol parses frames, answers pings, enforces the message size
(1009), refuses malformed frames (1002) and runs the close handshake. What the gateway
adds, here:

- the common frame (complete, unfragmented, masked text with a 7- or 16-bit length) is
  taken straight off the bytes (`whole_text_frames`) in about a quarter of the
  protocol's time; every other frame goes to the protocol, one complete frame at a time
  (`frame_end`), so the protocol is always at a frame boundary when the next common
  frame comes;
- binary frames are refused with 1003: the contract is text only;
- fragments are put together, and every byte held for an unfinished message (its
  fragments plus an incomplete frame) counts against one `PartialBudget` shared by the
  whole process; past it the connection that asked for more is closed with 1009;
- an unfinished message has a deadline (`since` + the message timeout; the transport
  closes with 1008 when it passes);
- invalid UTF-8 is 1007 (`is_utf8`: the transport asks only when JSON parsing failed,
  since the JSON parser already refuses invalid UTF-8).
"""

from __future__ import annotations

from websockets.frames import Frame, Opcode, apply_mask
from websockets.protocol import Protocol

TEXT, CONT, BINARY = Opcode.TEXT, Opcode.CONT, Opcode.BINARY

CLOSE_PROTOCOL_ERROR = 1002
CLOSE_UNSUPPORTED = 1003
CLOSE_INVALID_DATA = 1007
CLOSE_POLICY = 1008
CLOSE_TOO_BIG = 1009


class Refused(Exception):
    """Close the connection with `code` (and `reason`)."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"{code} {reason}")
        self.code = code
        self.reason = reason


class PartialBudget:
    """Bytes held for unfinished messages by all connections of the process."""

    __slots__ = ("limit", "held", "released")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0
        self.released = 0  # bytes given back since the owner last returned memory to the OS


class Messages:
    """One connection's incoming messages, from the bytes of its socket.

    `receive(data)` returns the whole text messages the bytes complete, in order, and
    the Refused that ends the connection, if one frame calls for it (the messages
    before it still count). Malformed frames are the protocol's to refuse: its state
    and `data_to_send()` say so. `hold()` accounts for what stays buffered."""

    __slots__ = ("protocol", "max_size", "budget", "_pending", "_parts", "_fragments", "held", "since")

    def __init__(self, protocol: Protocol, budget: PartialBudget, *, max_size: int, pending: bytes = b"") -> None:
        self.protocol = protocol
        self.max_size = max_size
        self.budget = budget
        self._pending = pending  # bytes of an incomplete frame, not yet given to the protocol
        self._parts: list[bytes] = []
        self._fragments = 0  # bytes in _parts
        self.held = 0  # bytes counted against the budget
        self.since: float | None = None  # when the unfinished message began

    def receive(self, data: bytes) -> tuple[list[bytes], Refused | None]:
        proto = self.protocol
        if self._pending:
            data = self._pending + data
            self._pending = b""
        end = len(data)
        at = 0
        messages: list[bytes] = []
        while at < end:
            if proto.eof_sent:  # failed, or closed: the rest is dropped
                return messages, None
            if proto.current_size is None:  # no fragmented message under way
                at = whole_text_frames(data, at, self.max_size, messages)
                if at == end:
                    break
            stop = frame_end(data, at, self.max_size - (proto.current_size or 0))
            if stop is None:  # incomplete: wait for the rest of this frame
                self._pending = data[at:]
                break
            proto.receive_data(data[at:stop])
            at = stop
            for frame in proto.events_received():
                try:
                    message = self._frame(frame)
                except Refused as refused:
                    return messages, refused
                if message is not None:
                    messages.append(message)
        return messages, None

    def _frame(self, frame: Frame) -> bytes | None:
        opcode = frame.opcode
        if opcode is TEXT:
            if frame.fin:
                return frame.data
            self._parts = [frame.data]
            self._fragments = len(frame.data)
            return None
        if opcode is CONT:  # the protocol refuses one without a message begun (1002)
            self._parts.append(frame.data)
            if frame.fin:
                data = b"".join(self._parts)
                self._parts = []
                self._fragments = 0
                return data
            self._fragments += len(frame.data)
            return None
        if opcode is BINARY:
            raise Refused(CLOSE_UNSUPPORTED, "binary frames are not accepted: send JSON-RPC as text")
        return None  # ping, pong, close: the protocol has handled them

    def hold(self, now: float) -> None:
        """Count the fragments and the incomplete frame against the process budget;
        raises Refused(1009) when this growth takes the budget past its limit."""
        held = self._fragments + len(self._pending)
        grew = held - self.held
        if not grew:
            return
        budget = self.budget
        budget.held += grew
        if grew < 0:
            budget.released -= grew
        if not self.held:
            self.since = now
        elif not held:
            self.since = None
        self.held = held
        if grew > 0 and budget.held > budget.limit:
            raise Refused(CLOSE_TOO_BIG, "the server holds too many unfinished messages; retry later")

    def release(self) -> None:
        """Give everything back (the connection ends)."""
        self.budget.held -= self.held
        self.budget.released += self.held
        self.held = 0
        self._parts = []
        self._pending = b""
        self._fragments = 0
        self.since = None


def whole_text_frames(data: bytes, at: int, max_size: int, out: list[bytes]) -> int:
    """Append to `out` the payloads of the complete, unfragmented, masked text frames
    (at most `max_size` bytes, 7- or 16-bit length, no reserved bits) starting at `at`;
    return where they end. Valid only at a frame boundary outside a fragmented message,
    where such a frame changes nothing in the protocol's state."""
    end = len(data)
    while at + 6 <= end and data[at] == 0x81:
        n = data[at + 1]
        if n < 0xFE:  # masked, 7-bit length
            if n < 0x80:  # not masked: the protocol refuses it
                break
            n -= 0x80
            start = at + 6
        elif n == 0xFE:  # masked, 16-bit length
            if at + 8 > end:
                break
            n = (data[at + 2] << 8) | data[at + 3]
            start = at + 8
        else:
            break
        if n > max_size or start + n > end:
            break
        out.append(apply_mask(data[start:start + n], data[start - 4:start]))
        at = start + n
    return at


def frame_end(data: bytes, at: int, max_size: int) -> int | None:
    """Where the frame starting at `at` ends, or None until its bytes are all there. A
    frame announcing more than `max_size` (what is left of the message size) ends, for
    this purpose, with its length: the protocol refuses it from that (1009) without
    waiting for its payload."""
    end = len(data)
    if at + 2 > end:
        return None
    n = data[at + 1] & 0x7F
    p = at + 2
    if n == 126:
        if p + 2 > end:
            return None
        n = int.from_bytes(data[p:p + 2], "big")
        p += 2
    elif n == 127:
        if p + 8 > end:
            return None
        n = int.from_bytes(data[p:p + 8], "big")
        p += 8
    if n > max_size:
        return p  # the protocol refuses the frame once it has read the length
    if data[at + 1] & 0x80:
        p += 4
    return p + n if p + n <= end else None


def is_utf8(data: bytes) -> bool:
    try:
        data.decode()
    except UnicodeDecodeError:
        return False
    return True
