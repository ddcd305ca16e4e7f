"""`system.ping`, `system.health`, `rpc.discover`."""

from __future__ import annotations

from typing import Protocol

from protocol.calls import Call
from protocol.methods import method

OBJECT = {"type": "object"}


class Node(Protocol):
    """The process, as the system methods see it."""

    def health(self) -> dict[str, object]:
        """{status: ok | degraded | shutting_down, version, actors: {name: state}}."""

    def discover(self) -> dict[str, object]:
        """The OpenRPC document of every method served."""


async def ping(call: Call[Node]) -> dict[str, object]:
    return {"pong": True}


async def health(call: Call[Node]) -> dict[str, object]:
    return call.domain.health()


async def discover(call: Call[Node]) -> dict[str, object]:
    return call.domain.discover()


METHODS = [
    method("system.ping", ping, summary="Liveness check over the WebSocket", inline=True,
           result={"type": "object", "properties": {"pong": {"const": True}}}),
    method("system.health", health, summary="Process status, version and actor states", inline=True,
           result={"type": "object", "properties": {"status": {"type": "string"}, "version": {"type": "string"},
                                                     "actors": OBJECT}}),
    method("rpc.discover", discover, summary="This OpenRPC document", result=OBJECT, inline=True),
]
