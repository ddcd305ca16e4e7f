"""How every answer writes a moment: ISO 8601 UTC with milliseconds."""

from __future__ import annotations

from datetime import datetime, timezone


def iso_utc(epoch_ms: int | float | None) -> str | None:
    """Epoch milliseconds as `2024-05-01T12:00:00.000Z` (None stays None)."""
    if epoch_ms is None:
        return None
    stamp = datetime.fromtimestamp(int(epoch_ms) / 1000, tz=timezone.utc)
    return stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")
