"""Run the gateway with another WebSocket frame layer, to compare them inside the
transport (bench/transport_bench.py --engines):

- `quick`: as shipped (common text frames taken off the bytes, the rest to websockets);
- `websockets`: every frame through the `websockets` sans-I/O ServerProtocol;
- `wsproto`: every frame through wsproto's Connection (the handshake stays websockets').

    .venv/bin/python bench/ws_engines.py ENGINE serve --port 0 ...
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from websockets.protocol import State  # noqa: E402
from wsproto.connection import Connection as WsConnection  # noqa: E402
from wsproto.connection import ConnectionState, ConnectionType  # noqa: E402
from wsproto.events import BytesMessage, CloseConnection, Ping, TextMessage  # noqa: E402

import main  # noqa: E402
from protocol import transport, ws_messages  # noqa: E402


class WsprotoFrames:
    """What the transport asks of its protocol, on wsproto."""

    def __init__(self) -> None:
        self.ws = WsConnection(ConnectionType.SERVER)
        self.writes: list[bytes] = []
        self.eof_sent = False
        self.close_sent: int | None = None
        self.current_size = None
        self._parts: list[str] = []

    @property
    def state(self) -> State:
        return State.OPEN if self.ws.state is ConnectionState.OPEN else State.CLOSING

    def receive(self, data: bytes) -> tuple[list[Any], Any]:
        if self.eof_sent:
            return [], None
        self.ws.receive_data(data)
        out: list[Any] = []
        for event in self.ws.events():
            if isinstance(event, TextMessage):
                self._parts.append(event.data)
                if event.message_finished:
                    out.append("".join(self._parts))
                    self._parts = []
            elif isinstance(event, Ping):
                self.writes.append(self.ws.send(event.response()))
            elif isinstance(event, CloseConnection):
                if self.ws.state is ConnectionState.REMOTE_CLOSING:
                    self.writes.append(self.ws.send(event.response()))
                self.close_sent = event.code
                self.writes.append(b"")
                self.eof_sent = True
            elif isinstance(event, BytesMessage):
                return out, ws_messages.Refused(1003, "binary")
        return out, None

    def fail(self, code: int, reason: str = "") -> None:
        if self.ws.state is ConnectionState.OPEN:
            self.writes.append(self.ws.send(CloseConnection(code, reason)))
            self.close_sent = code
        self.writes.append(b"")
        self.eof_sent = True

    def send_close(self, code: int, reason: str = "") -> None:
        self.writes.append(self.ws.send(CloseConnection(code, reason)))
        self.close_sent = code

    def data_to_send(self) -> list[bytes]:
        writes, self.writes = self.writes, []
        return writes


def use(engine: str) -> None:
    if engine == "quick":
        return
    if engine == "websockets":
        ws_messages.whole_text_frames = lambda data, at, max_size, out: at  # type: ignore[assignment]
        return
    assert engine == "wsproto", engine
    ws_messages.Messages.receive = lambda self, data: self.protocol.receive(data)  # type: ignore[method-assign]
    serve = transport.WebSocketGateway._serve_connection

    async def serve_on_wsproto(self: Any, stream: Any, peer: str, proto: Any, leftover: bytes, principal: Any) -> None:
        frames = WsprotoFrames()
        if leftover:
            frames.ws.receive_data(leftover)
        await serve(self, stream, peer, frames, b"", principal)

    transport.WebSocketGateway._serve_connection = serve_on_wsproto  # type: ignore[method-assign]


if __name__ == "__main__":
    use(sys.argv[1])
    sys.exit(main.main(sys.argv[2:]))
