"""Messages of the playback actor (registered as "playback").

Position updates are not messages: they go through `PositionIntake.offer`.
"""

from __future__ import annotations

import attrs

from actors.paging import Page


@attrs.frozen
class Start:
    """Open a session. The caller has checked that the item exists (its duration)."""

    user_id: str
    content_id: str
    duration_ms: int
    device_id: str = ""


@attrs.frozen
class Adopt:
    """Take over an open session this node does not hold (after a restart, or one
    started on another node): answers its `SessionKey`, or NotFound."""

    session_id: str
    user_id: str


@attrs.frozen
class Stop:
    """End a session, optionally with a last position: answers `Stopped`."""

    user_id: str
    session_id: str
    position_ms: int | None = None


@attrs.frozen
class GetResume:
    """Where `user_id` would resume `content_id` (current duration from the catalog)."""

    user_id: str
    content_id: str
    duration_ms: int


@attrs.frozen
class ContinueWatching:
    """Answers a `Slice` of `Watching`, most recent first."""

    user_id: str
    page: Page


@attrs.frozen
class Flush:
    """Write every pending position now; answers the number of rows written."""
