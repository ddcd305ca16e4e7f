"""The playback domain's methods (see CONTRACT.md)."""

from __future__ import annotations

from typing import Any

from protocol.methods import MethodTable


def children(services: Any) -> list:
    return []


def register(table: MethodTable, services: Any) -> None:
    pass
