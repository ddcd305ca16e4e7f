"""A lingering close: the last thing a server does with a socket it answered early."""

from __future__ import annotations

import trio


async def linger(stream: trio.SocketStream, seconds: float = 1.0, most: int = 1 << 20) -> None:
    """After an answer to a request not read to its end: end our side, then read and drop
    what the client still sends (bounded), so that closing does not send a reset that
    could destroy the answer before the client reads it."""
    with trio.move_on_after(seconds):
        try:
            await stream.send_eof()  # nothing when our side is closed already
            while most > 0 and (chunk := await stream.receive_some(65536)):
                most -= len(chunk)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass  # the client is gone: nothing to wait for
