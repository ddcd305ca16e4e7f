"""What every domain is started with."""

from __future__ import annotations

import attrs

from actors.kv import KV
from actors.storage import Storage
from runtime import Registry


@attrs.frozen
class DomainEnv:
    """The node's storage and key-value store (both open), the registry its actors are
    found in by name, and the node's id (to tell its own pub/sub notices from other
    nodes')."""

    storage: Storage
    kv: KV
    registry: Registry
    node_id: str
