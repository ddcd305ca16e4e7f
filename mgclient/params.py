"""What the generated methods (mgclient/methods.py) are built on."""

from __future__ import annotations

import enum
from typing import Any, Protocol


class Omitted(enum.Enum):
    """The type of `OMITTED`: a param left out (unlike None, which is sent as null)."""

    OMITTED = "omitted"


OMITTED = Omitted.OMITTED


def params(**given: Any) -> dict[str, Any]:
    """The params object of a call: every argument but the omitted ones."""
    return {k: v for k, v in given.items() if v is not OMITTED}


class Caller(Protocol):
    """What the typed methods call through (a `Connection` or a `Client`)."""

    async def call(self, method: str, params: Any = None) -> Any: ...
