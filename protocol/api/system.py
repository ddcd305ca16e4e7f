"""`system.ping`, `system.health`, `rpc.discover`."""

from __future__ import annotations

from typing import Protocol

from protocol.calls import Call
from protocol.methods import EMPTY_PARAMS, Example, Notification, method

OBJECT = {"type": "object"}
DOCUMENT = {"title": "OpenRpcDocument", "type": "object",
            "description": "OpenRPC 1.2.6; see docs/API.md for its x- extensions",
            "properties": {"openrpc": {"type": "string"}, "info": OBJECT, "servers": {"type": "array"},
                           "methods": {"type": "array"}, "components": OBJECT,
                           "x-notifications": {"type": "array"}},
            "required": ["openrpc", "info", "methods"]}


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
           result={"type": "object", "properties": {"pong": {"const": True}}, "required": ["pong"]},
           examples=[Example("ping", {}, {"pong": True})]),
    method("system.health", health, summary="Process status, version and actor states", inline=True,
           result={"type": "object", "properties": {
               "status": {"enum": ["ok", "degraded", "shutting_down"]}, "version": {"type": "string"},
               "actors": {"type": "object", "additionalProperties": {"type": "string"},
                          "description": "actor name -> running, restarting, stopped, ..."}},
               "required": ["status", "version", "actors"]},
           examples=[Example("healthy", {}, {"status": "ok", "version": "0.1.0",
                                             "actors": {"catalog": "running", "search": "running"}})]),
    method("rpc.discover", discover, summary="This OpenRPC document", result=DOCUMENT, inline=True,
           examples=[Example("discover", {}, {"openrpc": "1.2.6",
                                              "info": {"title": "media-gateway", "version": "0.1.0"},
                                              "methods": []})]),
]

NOTIFICATIONS = [
    Notification("system.shutdown", EMPTY_PARAMS, summary="The server is shutting down (like HTTP/2 GOAWAY)",
                 description="Sent to every connection when SIGTERM or SIGINT arrives. Requests already "
                             "sent are answered; a request sent after it gets -32008; the connection is "
                             "then closed with 1001. Reconnect (to another node, or after a back-off)."),
]
