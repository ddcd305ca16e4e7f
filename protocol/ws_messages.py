"""WebSocket frames into whole text messages, within budgets, without I/O.

The `websockets` protocol parses frames, answers pings, enforces the message size
(1009) and refuses malformed frames (1002). What the gateway adds, here:

- binary frames are refused with 1003: the contract is text only;
- fragments are put together, and every byte held for an unfinished message (its
  fragments plus an incomplete frame still in the parser's buffer) counts against one
  `PartialBudget` shared by the whole process; past it the connection that asked for
  more is closed with 1009;
- an unfinished message has a deadline (`since` + the message timeout; the transport
  closes with 1008 when it passes);
- invalid UTF-8 is 1007 (`is_utf8`: the transport asks only when JSON parsing failed,
  since the JSON parser already refuses invalid UTF-8).
"""

from __future__ import annotations

from websockets.frames import Frame, Opcode

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
    """One connection's incoming messages. `frame()` returns a whole text message or
    None; `hold()` accounts for what is buffered after each read."""

    __slots__ = ("budget", "_parts", "_fragments", "held", "since")

    def __init__(self, budget: PartialBudget) -> None:
        self.budget = budget
        self._parts: list[bytes] = []
        self._fragments = 0  # bytes in _parts
        self.held = 0  # bytes counted against the budget
        self.since: float | None = None  # when the unfinished message began

    def frame(self, frame: Frame) -> bytes | None:
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

    def hold(self, buffered: int, now: float) -> None:
        """Count the fragments plus `buffered` (bytes of an incomplete frame) against the
        process budget; raises Refused(1009) when this growth takes the budget past its limit."""
        held = self._fragments + buffered
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
        self._fragments = 0
        self.since = None


def is_utf8(data: bytes) -> bool:
    try:
        data.decode()
    except UnicodeDecodeError:
        return False
    return True
