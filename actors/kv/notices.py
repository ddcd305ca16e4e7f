"""Change notices between nodes: JSON objects on a pub/sub channel, tagged with the
sending node, so each node can skip its own and re-read what others changed."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import orjson

from .port import Subscription

log = logging.getLogger("actors.kv")

MISSED = None
"""Yielded by `from_other_nodes` when notices may have been lost (the subscription
reconnected): the follower should re-read everything it mirrors."""


async def from_other_nodes(subscription: Subscription, node_id: str) -> AsyncIterator[dict[str, Any] | None]:
    """The notices of other nodes, in order; `MISSED` after a reconnect. Malformed
    messages are logged and skipped; this node's own notices are skipped silently."""
    reconnects = subscription.reconnects
    async for raw in subscription:
        if subscription.reconnects != reconnects:
            reconnects = subscription.reconnects
            yield MISSED
        try:
            notice = orjson.loads(raw)
        except orjson.JSONDecodeError:
            notice = None
        if not isinstance(notice, dict):
            log.warning("ignored a malformed change notice", extra={"event": "kv.bad_notice"})
            continue
        if notice.get("node") != node_id:
            yield notice
