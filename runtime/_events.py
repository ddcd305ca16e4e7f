"""Structured lifecycle events: one logging record each, plus an optional callback."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

logger = logging.getLogger("runtime")

EventHook = Callable[[dict[str, Any]], None]


def emit(
    hook: EventHook | None,
    event: str,
    message: str,
    *,
    level: int = logging.INFO,
    exc: BaseException | None = None,
    **fields: Any,
) -> None:
    """Log `message` on logger "runtime" with ``extra={"event": event, **fields}``
    and call ``hook({"event": event, **fields, "exception": exc})``.

    A failing hook is logged and otherwise ignored: metrics must not break supervision.
    """
    fields["event"] = event
    if logger.isEnabledFor(level):
        logger.log(
            level,
            message,
            exc_info=(type(exc), exc, exc.__traceback__) if exc is not None else None,
            extra=fields,
        )
    if hook is not None:
        payload = dict(fields)
        if exc is not None:
            payload["exception"] = exc
        try:
            hook(payload)
        except Exception:
            logger.exception("on_event hook failed for %s", event)
