"""JSON-RPC method handlers, one module per domain. Each handler is a module-level
`async def name(call: Call[D])`, and each module's `METHODS` list declares its methods
(name, handler, params and result schemas, access, errors, examples) next to them: the
index of its part of the API. What `D` is, each module says (its domain's facade, or a
record of them). A module whose domain pushes notifications lists them in
`NOTIFICATIONS`.

`MODULES` is every module of the API: the reference (`python main.py docs`) is built
from it, and a test checks that a gateway serves exactly its methods.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from protocol.api import catalog, experiments, playback, search, system, tokens
from protocol.methods import Declaration, Notification

MODULES: tuple[ModuleType, ...] = (system, tokens, catalog, search, experiments, playback)


def declarations() -> list[Declaration[Any]]:
    """Every method of the API, as declared."""
    return [d for module in MODULES for d in module.METHODS]


def notifications() -> list[Notification]:
    """Every notification the server sends."""
    return [n for module in MODULES for n in getattr(module, "NOTIFICATIONS", ())]
