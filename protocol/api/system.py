"""`system.ping`, `system.health`, `rpc.discover`."""

from __future__ import annotations

from typing import Any

from protocol.methods import MethodTable

OBJECT = {"type": "object"}


def register(table: MethodTable, services: Any) -> None:
    async def ping(params: dict, ctx: Any) -> dict:
        return {"pong": True}

    async def health(params: dict, ctx: Any) -> dict:
        return services.health()

    async def discover(params: dict, ctx: Any) -> dict:
        return table.openrpc(title="media-gateway", version=services.version)

    table.add("system.ping", ping, summary="Liveness check over the WebSocket", inline=True,
              result={"type": "object", "properties": {"pong": {"const": True}}})
    table.add("system.health", health, summary="Process status, version and actor states", inline=True,
              result={"type": "object", "properties": {"status": {"type": "string"},
                                                        "version": {"type": "string"},
                                                        "actors": OBJECT}})
    table.add("rpc.discover", discover, summary="This OpenRPC document", result=OBJECT, inline=True)
